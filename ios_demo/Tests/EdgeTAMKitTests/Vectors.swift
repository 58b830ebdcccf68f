import Foundation
import Testing

@testable import EdgeTAMKit

/// Reading the Python-written vectors and comparing values bit for bit.
enum Vectors {
    static func safetensors(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(contentsOf: try TestData.vector(name))
    }

    static func json<T: Decodable>(_ name: String, as _: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(T.self, from: Data(contentsOf: try TestData.vector(name)))
    }

    /// The first index where two float arrays differ in bits (all NaNs count as equal), with both values.
    static func firstDifference(_ a: [Float], _ b: [Float]) -> (index: Int, a: Float, b: Float)? {
        if a.count != b.count { return (min(a.count, b.count), .nan, .nan) }
        if bitEqual(a, b) { return nil }  // fast path: a debug-build scan is slow
        for i in a.indices where a[i].bitPattern != b[i].bitPattern && !(a[i].isNaN && b[i].isNaN) {
            return (i, a[i], b[i])
        }
        return nil
    }

    /// Whether two arrays hold the same bytes.
    static func bitEqual<T>(_ a: [T], _ b: [T]) -> Bool {
        a.count == b.count
            && a.withUnsafeBytes { ra in b.withUnsafeBytes { rb in ra.count == 0 || memcmp(ra.baseAddress!, rb.baseAddress!, ra.count) == 0 } }
    }

    /// Expects bit-equal tensors, reporting the first difference.
    static func expectBitEqual(_ actual: Tensor, _ expected: Tensor, _ what: String) {
        #expect(actual.shape == expected.shape, "\(what): shape")
        if let d = firstDifference(actual.scalars, expected.scalars) {
            Issue.record("\(what): flat index \(d.index): Swift \(d.a), Python \(d.b)")
        }
    }
}
