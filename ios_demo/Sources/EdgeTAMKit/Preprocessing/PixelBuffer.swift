/// An 8-bit frame as an app holds it: interleaved RGB (a decoded video frame) or BGRA (a camera pixel
/// buffer), rows `bytesPerRow` apart (padding after each row is allowed).
public struct PixelBuffer: Sendable, Equatable {
    /// The byte layout of one pixel.
    public enum Format: Sendable, Equatable {
        /// R, G, B: 3 bytes a pixel.
        case rgb8
        /// B, G, R, A: 4 bytes a pixel (kCVPixelFormatType_32BGRA); alpha is ignored.
        case bgra8

        /// Bytes per pixel.
        public var bytesPerPixel: Int {
            switch self {
            case .rgb8: 3
            case .bgra8: 4
            }
        }

        /// Byte offsets of R, G and B inside a pixel.
        public var channelOffsets: [Int] {
            switch self {
            case .rgb8: [0, 1, 2]
            case .bgra8: [2, 1, 0]
            }
        }
    }

    public let width: Int
    public let height: Int
    public let bytesPerRow: Int
    public let format: Format
    public let bytes: [UInt8]

    /// A frame over `bytes`; `bytesPerRow` defaults to tightly packed rows. Throws `EdgeTAMError.input`
    /// when the sizes do not fit the bytes.
    public init(width: Int, height: Int, format: Format = .rgb8, bytesPerRow: Int? = nil, bytes: [UInt8]) throws {
        let stride = bytesPerRow ?? width * format.bytesPerPixel
        guard width >= 1, height >= 1 else {
            throw EdgeTAMError.input(
                "frame is empty (\(height)×\(width)); pass a decoded RGB image with at least one pixel")
        }
        guard stride >= width * format.bytesPerPixel else {
            throw EdgeTAMError.input(
                "bytesPerRow \(stride) is less than width × \(format.bytesPerPixel) = "
                    + "\(width * format.bytesPerPixel); give the buffer's real row stride")
        }
        let needed = (height - 1) * stride + width * format.bytesPerPixel
        guard bytes.count >= needed else {
            throw EdgeTAMError.input(
                "a \(height)×\(width) frame with rows \(stride) bytes apart needs \(needed) bytes, got "
                    + "\(bytes.count); check width, height and bytesPerRow")
        }
        self.width = width
        self.height = height
        self.bytesPerRow = stride
        self.format = format
        self.bytes = bytes
    }

    /// The frame as tightly packed RGB bytes (H×W×3, C order), the layout the Python runtime takes.
    public var rgbBytes: [UInt8] {
        if format == .rgb8 && bytesPerRow == width * 3 {
            return Array(bytes.prefix(height * width * 3))
        }
        var out = [UInt8](repeating: 0, count: height * width * 3)
        let offsets = format.channelOffsets
        let bpp = format.bytesPerPixel
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        let s = y * bytesPerRow + x * bpp
                        let d = (y * width + x) * 3
                        dst[d] = src[s + offsets[0]]
                        dst[d + 1] = src[s + offsets[1]]
                        dst[d + 2] = src[s + offsets[2]]
                    }
                }
            }
        }
        return out
    }
}
