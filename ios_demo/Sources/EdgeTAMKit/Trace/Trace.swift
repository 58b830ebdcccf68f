import Foundation

/// A trace folder, loaded: `trace.json` and the tensors it names.
public struct Trace: Sendable {
    /// The call log's file name.
    public static let jsonName = "trace.json"
    /// The tensors' file name.
    public static let tensorsName = "tensors.safetensors"

    /// The folder it was read from.
    public let folder: URL
    /// trace.json.
    public let file: TraceFile
    /// tensors.safetensors.
    public let tensors: SafetensorsFile

    /// Reads a trace folder; throws `EdgeTAMError.traceFile` naming what is missing or malformed.
    public init(folder: URL) throws {
        self.folder = folder
        let json = folder.appendingPathComponent(Trace.jsonName)
        let data: Data
        do {
            data = try Data(contentsOf: json)
        } catch {
            throw EdgeTAMError.traceFile(
                path: json.path, problem: "cannot be read (is \(folder.path) a trace folder?)")
        }
        file = try TraceFile.decode(data, path: json.path)
        tensors = try SafetensorsFile(contentsOf: folder.appendingPathComponent(Trace.tensorsName))
    }

    /// A trace from parts already loaded (tests alter a recorded program this way).
    init(folder: URL, file: TraceFile, tensors: SafetensorsFile) {
        self.folder = folder
        self.file = file
        self.tensors = tensors
    }

    /// A Float32 tensor of the trace.
    public func tensor(_ name: String) throws -> Tensor {
        try tensors.tensor(name)
    }

    /// The recorded frames as RGB pixel buffers.
    public func frames() throws -> [PixelBuffer] {
        let (shape, bytes) = try tensors.uint8(file.video.frames)
        guard shape.count == 4, shape[3] == 3 else {
            throw EdgeTAMError.traceFile(path: folder.path, problem: "video frames have shape \(shape), not [n, H, W, 3]")
        }
        let size = shape[1] * shape[2] * 3
        return try (0..<shape[0]).map {
            try PixelBuffer(width: shape[2], height: shape[1], bytes: Array(bytes[($0 * size)..<(($0 + 1) * size)]))
        }
    }

    /// A recorded 0/1 mask prompt.
    public func mask(_ name: String) throws -> BinaryMask {
        let (shape, bytes) = try tensors.uint8(name)
        guard shape.count == 2 else {
            throw EdgeTAMError.traceFile(path: folder.path, problem: "mask \(name) has shape \(shape), not [H, W]")
        }
        return try BinaryMask(width: shape[1], height: shape[0], bytes: bytes)
    }
}
