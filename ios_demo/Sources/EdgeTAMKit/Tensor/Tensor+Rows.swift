/// Slicing and assembling along the first axis: how the driver moves per-object rows in and out of the
/// batched stage tensors.
extension Tensor {
    /// Values per row (per index of the first axis).
    var rowSize: Int { shape.isEmpty ? 1 : Tensor.elementCount(Array(shape.dropFirst())) }

    /// The rows `range` of the first axis, as a tensor.
    func rows(_ range: Range<Int>) -> Tensor {
        let size = rowSize
        let values = Array(scalars[(range.lowerBound * size)..<(range.upperBound * size)])
        return Tensor(shape: [range.count] + shape.dropFirst(), scalars: values)
    }

    /// Row `i` of the first axis, without that axis.
    func row(_ i: Int) -> Tensor {
        let size = rowSize
        return Tensor(shape: Array(shape.dropFirst()), scalars: Array(scalars[(i * size)..<((i + 1) * size)]))
    }

    /// Overwrites row `i` of the first axis with `values` (its count must be the row size).
    mutating func setRow(_ i: Int, _ values: ArraySlice<Float>) {
        let size = rowSize
        precondition(values.count == size, "row of \(values.count) values into rows of \(size)")
        scalars.replaceSubrange((i * size)..<((i + 1) * size), with: values)
    }

    /// Bytes of the Float32 storage (as numpy's `nbytes` counts a float32 array).
    var byteCount: Int { count * MemoryLayout<Float>.size }
}
