/// Calls with more objects than a model takes at once, split into chunks whose outputs are joined again,
/// as the Python Core ML backend does (`runtime/backends/coreml.py`): a package whose batch is fixed at 1
/// (or capped at some n) still serves the driver's one call for all objects. Plain Swift, tested on Linux.
public enum BatchSplitting {
    /// Half-open ranges of at most `step` items covering 0..<total (one empty-free range per chunk).
    public static func chunks(total: Int, step: Int) -> [Range<Int>] {
        precondition(step >= 1, "a chunk holds at least one object")
        return stride(from: 0, to: total, by: step).map { $0..<min($0 + step, total) }
    }

    /// Runs `predict` on chunks of at most `maxBatch` objects and concatenates each output along the batch
    /// axis. Inputs named in `batched` are sliced; the others (one frame's features) go to every chunk whole.
    public static func run(
        _ inputs: [String: Tensor], batched: Set<String>, batch: Int, maxBatch: Int,
        predict: ([String: Tensor]) throws -> [String: Tensor]
    ) throws -> [String: Tensor] {
        if batch <= maxBatch { return try predict(inputs) }
        var parts: [String: [Tensor]] = [:]
        for range in chunks(total: batch, step: maxBatch) {
            var chunk = inputs
            for name in batched { chunk[name] = inputs[name]?.batchSlice(range) }
            for (name, tensor) in try predict(chunk) { parts[name, default: []].append(tensor) }
        }
        return parts.mapValues { Tensor(concatenatingBatches: $0) }
    }
}

extension Tensor {
    /// The items `range` of the first (batch) axis.
    public func batchSlice(_ range: Range<Int>) -> Tensor {
        precondition(
            !shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "batch slice out of range")
        let item = shape.dropFirst().reduce(1, *)
        return Tensor(
            shape: [range.count] + shape.dropFirst(),
            scalars: Array(scalars[(range.lowerBound * item)..<(range.upperBound * item)]))
    }

    /// Tensors of equal trailing shape joined along the first (batch) axis.
    public init(concatenatingBatches parts: [Tensor]) {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "batches of different shapes")
        self.init(shape: [parts.map { $0.shape[0] }.reduce(0, +)] + tail, scalars: parts.flatMap(\.scalars))
    }

    /// This one-item batch repeated `count` times (one frame's features for every object).
    public func repeatedBatch(_ count: Int) -> Tensor {
        precondition(shape.first == 1, "only a batch of one is repeated")
        return Tensor(concatenatingBatches: Array(repeating: self, count: count))
    }
}
