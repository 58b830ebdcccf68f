/// A dense Float32 tensor in C (row-major) order: the one value type every stage input and output uses.
///
/// Stage graphs take and return only such tensors (0/1 switches and validity masks are Float32 too), as the
/// Python runtime's stage calls do, so a `StageRunner` never converts anything but the storage format.
public struct Tensor: Sendable, Equatable {
    /// The size of each axis, outermost first.
    public let shape: [Int]
    /// The values in C order; `scalars.count` is the product of `shape`.
    public var scalars: [Float]

    /// A tensor of the given shape holding `scalars` in C order (their count must match the shape).
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor shape \(shape) has a negative axis")
        precondition(
            Tensor.elementCount(shape) == scalars.count,
            "tensor shape \(shape) holds \(Tensor.elementCount(shape)) values, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    /// A tensor filled with one value.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: Tensor.elementCount(shape)))
    }

    /// The number of values (the product of the shape; 1 for a scalar of shape []).
    public var count: Int { scalars.count }

    /// The number of values a shape holds.
    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1, *)
    }
}
