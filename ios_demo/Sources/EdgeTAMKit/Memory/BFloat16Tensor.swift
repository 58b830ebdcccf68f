/// A tensor stored as bfloat16 bit patterns (the memory bank's features): C order, 2 bytes a value.
public struct BFloat16Tensor: Sendable, Equatable {
    public let shape: [Int]
    public var bits: [UInt16]

    /// Rounds a Float32 tensor to bfloat16 (nearest even).
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        bits = BFloat16.bits(tensor.scalars)
    }

    init(shape: [Int], bits: [UInt16]) {
        precondition(Tensor.elementCount(shape) == bits.count, "bfloat16 tensor shape \(shape) vs \(bits.count) values")
        self.shape = shape
        self.bits = bits
    }

    /// The values as Float32 (exact).
    public var floats: Tensor { Tensor(shape: shape, scalars: BFloat16.floats(bits)) }

    /// Bytes of the storage.
    public var byteCount: Int { bits.count * MemoryLayout<UInt16>.size }

    /// The rows `range` of the first axis.
    func rows(_ range: Range<Int>) -> BFloat16Tensor {
        let size = Tensor.elementCount(Array(shape.dropFirst()))
        return BFloat16Tensor(
            shape: [range.count] + shape.dropFirst(),
            bits: Array(bits[(range.lowerBound * size)..<(range.upperBound * size)]))
    }
}
