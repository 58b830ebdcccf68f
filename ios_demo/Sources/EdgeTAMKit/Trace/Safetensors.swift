import Foundation

/// A safetensors file read with Foundation only: a little-endian u64 header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data (C order, little-endian).
public struct SafetensorsFile: Sendable {
    /// One stored tensor's place in the data buffer.
    public struct Entry: Sendable, Equatable {
        /// "F32", "U8", "U16", "I64", ...
        public let dtype: String
        public let shape: [Int]
        /// Byte range inside the data buffer.
        public let range: Range<Int>
    }

    /// The tensors by name.
    public let entries: [String: Entry]
    /// The header's free-form `__metadata__` strings.
    public let metadata: [String: String]
    private let data: Data
    private let path: String

    private static let elementSizes = ["F32": 4, "U8": 1, "U16": 2, "I64": 8, "I32": 4, "U32": 4, "F16": 2, "BF16": 2]

    /// Reads a file; throws `EdgeTAMError.traceFile` naming what is malformed.
    public init(contentsOf url: URL) throws {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw EdgeTAMError.traceFile(path: url.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(bytes, path: url.path)
    }

    /// Parses the bytes of a safetensors file (`path` names it in errors).
    public init(_ bytes: Data, path: String = "tensors.safetensors") throws {
        self.path = path
        guard bytes.count >= 8 else {
            throw EdgeTAMError.traceFile(path: path, problem: "is too short for a safetensors header")
        }
        let headerLength = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw EdgeTAMError.traceFile(path: path, problem: "declares a \(headerLength)-byte header past its end")
        }
        let headerEnd = 8 + Int(headerLength)
        let header: [String: JSONValue]
        do {
            header = try JSONDecoder().decode([String: JSONValue].self, from: bytes.subdata(in: 8..<headerEnd))
        } catch {
            throw EdgeTAMError.traceFile(path: path, problem: "has a header that is not a JSON object (\(error))")
        }
        data = bytes.subdata(in: headerEnd..<bytes.count)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if case let .object(fields) = value {
                    for (key, field) in fields { if case let .string(text) = field { metadata[key] = text } }
                }
                continue
            }
            entries[name] = try Self.entry(name, value, dataCount: data.count, path: path)
        }
        self.entries = entries
        self.metadata = metadata
    }

    private static func entry(_ name: String, _ value: JSONValue, dataCount: Int, path: String) throws -> Entry {
        guard case let .object(fields) = value, case let .string(dtype)? = fields["dtype"],
            case let .array(shapeValues)? = fields["shape"], case let .array(offsetValues)? = fields["data_offsets"]
        else {
            throw EdgeTAMError.traceFile(path: path, problem: "tensor \(name) lacks dtype, shape or data_offsets")
        }
        let shape = shapeValues.compactMap { v -> Int? in if case let .number(n) = v { Int(exactly: n) } else { nil } }
        let offsets = offsetValues.compactMap { v -> Int? in if case let .number(n) = v { Int(exactly: n) } else { nil } }
        guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2,
            offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataCount
        else {
            throw EdgeTAMError.traceFile(path: path, problem: "tensor \(name) has a bad shape or byte range")
        }
        guard let size = elementSizes[dtype] else {
            throw EdgeTAMError.traceFile(path: path, problem: "tensor \(name) has unsupported dtype \(dtype)")
        }
        guard Tensor.elementCount(shape) * size == offsets[1] - offsets[0] else {
            throw EdgeTAMError.traceFile(
                path: path, problem: "tensor \(name): shape \(shape) of \(dtype) does not fill its byte range")
        }
        return Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    /// A stored tensor's shape and values as `T` (which must be the stored dtype's type).
    public func values<T: FixedWidthInteger>(_ name: String, dtype: String, as _: T.Type) throws -> (shape: [Int], values: [T]) {
        let entry = try self.entry(name, dtype: dtype)
        let count = Tensor.elementCount(entry.shape)
        // Every platform Swift runs EdgeTAMKit on is little-endian, as the file is: copy the bytes as they are.
        let bytes = data[data.startIndex + entry.range.lowerBound..<data.startIndex + entry.range.upperBound]
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
            }
            initialized = count
        }
        return (entry.shape, values)
    }

    /// A stored F32 tensor.
    public func tensor(_ name: String) throws -> Tensor {
        let (shape, bits) = try values(name, dtype: "F32", as: UInt32.self)
        return Tensor(shape: shape, scalars: bits.map(Float.init(bitPattern:)))
    }

    /// A stored U8 tensor.
    public func uint8(_ name: String) throws -> (shape: [Int], values: [UInt8]) {
        try values(name, dtype: "U8", as: UInt8.self)
    }

    /// A stored U16 tensor.
    public func uint16(_ name: String) throws -> (shape: [Int], values: [UInt16]) {
        try values(name, dtype: "U16", as: UInt16.self)
    }

    private func entry(_ name: String, dtype: String) throws -> Entry {
        guard let entry = entries[name] else {
            throw EdgeTAMError.traceFile(path: path, problem: "holds no tensor named \(name)")
        }
        guard entry.dtype == dtype else {
            throw EdgeTAMError.traceFile(path: path, problem: "tensor \(name) is \(entry.dtype), expected \(dtype)")
        }
        return entry
    }
}
