import Foundation

/// How replayed values are compared with recorded ones. The default is bit-exact (the target: every
/// driver-side computation is deterministic float32/uint8 arithmetic); `relative` > 0 accepts
/// |a − b| ≤ relative · max(|a|, |b|) instead, for a runtime that cannot be bit-exact.
public struct ReplayTolerance: Sendable, Equatable {
    /// Accepted |a − b| relative to max(|a|, |b|); 0: bit-exact.
    public var relative: Float

    /// A tolerance (bit-exact by default).
    public init(relative: Float = 0) {
        self.relative = relative
    }

    /// Bit-exact.
    public static let exact = ReplayTolerance()
}

/// The outcome of comparing two float arrays.
struct Comparison {
    /// The largest |a − b| seen (0 when bit-equal; NaN pairs count as equal).
    var largest: Float = 0
    /// The first value outside the tolerance: flat index, actual, expected.
    var mismatch: (index: Int, actual: Float, expected: Float)?

    init(_ actual: [Float], _ expected: [Float], tolerance: ReplayTolerance) {
        precondition(actual.count == expected.count)
        let same = actual.withUnsafeBytes { a in
            expected.withUnsafeBytes { e in a.count == 0 || memcmp(a.baseAddress!, e.baseAddress!, a.count) == 0 }
        }
        if same { return }
        let exact = tolerance.relative == 0
        actual.withUnsafeBufferPointer { a in
            expected.withUnsafeBufferPointer { e in
                for i in 0..<a.count where a[i].bitPattern != e[i].bitPattern && !(a[i].isNaN && e[i].isNaN) {
                    let difference = abs(a[i] - e[i])
                    largest = max(largest, difference.isNaN ? .infinity : difference)
                    let within = !exact && difference <= tolerance.relative * max(abs(a[i]), abs(e[i]))
                    if mismatch == nil && !within {
                        mismatch = (i, a[i], e[i])
                        if exact { return }
                    }
                }
            }
        }
    }
}
