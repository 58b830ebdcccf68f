/// Frames → the image encoder's input `[1, 3, S, S]`, bit-exact with `runtime/preprocess.py` (and hence with
/// Hugging Face's `Sam2VideoProcessor`): the uint8 antialiased resize to S×S (aspect not kept), then the
/// fused float32 normalization `(x − mean·255) / (std·255)`, with `mean·255` and `std·255` rounded to Float
/// first, as the processor computes them.
public struct Preprocessor: Sendable, Equatable {
    /// ImageNet mean of R, G, B (the manifest's `preprocessing.mean`).
    public static let imagenetMean: [Double] = [0.485, 0.456, 0.406]
    /// ImageNet standard deviation of R, G, B (the manifest's `preprocessing.std`).
    public static let imagenetStd: [Double] = [0.229, 0.224, 0.225]

    /// Side S of the square model input.
    public let imageSize: Int
    let mean255: [Float]
    let std255: [Float]

    /// A preprocessor for model inputs of side `imageSize`, with per-channel `mean` and `std` in 0..1 units.
    public init(imageSize: Int, mean: [Double] = imagenetMean, std: [Double] = imagenetStd) {
        precondition(imageSize >= 1, "image size must be positive, got \(imageSize)")
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
        self.imageSize = imageSize
        // The processor fuses rescale (1/255) into normalization: it scales mean and std by 1 / (1/255).
        let scale = Float(1.0 / (1.0 / 255.0))
        mean255 = mean.map { Float($0) * scale }
        std255 = std.map { Float($0) * scale }
    }

    /// The preprocessing an export's manifest describes.
    public init(_ preprocessing: Manifest.Preprocessing) {
        self.init(imageSize: preprocessing.imageSize, mean: preprocessing.mean, std: preprocessing.std)
    }

    /// The image encoder's input for one frame.
    public func callAsFunction(_ frame: PixelBuffer) -> Tensor {
        let s = imageSize
        let resized = resizeUInt8AntialiasBilinear(frame, height: s, width: s)
        var out = [Float](repeating: 0, count: 3 * s * s)
        resized.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let mean = mean255[c]
                    let std = std255[c]
                    let plane = c * s * s
                    for i in 0..<(s * s) {
                        dst[plane + i] = (Float(src[i * 3 + c]) - mean) / std
                    }
                }
            }
        }
        return Tensor(shape: [1, 3, s, s], scalars: out)
    }
}
