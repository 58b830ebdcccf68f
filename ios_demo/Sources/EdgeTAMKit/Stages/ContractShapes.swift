/// Shape math on stage contracts that every runner needs and none needs Core ML for: resolving a spec's
/// symbols to numbers, finding a call's object batch, and checking a call against the contract with the
/// export's capacities fixed. `CoreMLStageRunner` and the stand-in runner both use it.
public enum ContractShapes {
    /// The symbol of the object batch axis.
    public static let batchSymbol = "B"

    /// `spec`'s shape with every symbol replaced from `sizes`; throws naming the stage and tensor when a
    /// symbol has no value.
    public static func resolve(_ spec: TensorSpec, sizes: [String: Int], stage: StageName) throws -> [Int] {
        try spec.shape.map { dimension in
            switch dimension {
            case .fixed(let value):
                return value
            case .symbol(let name):
                guard let value = sizes[name] else {
                    throw EdgeTAMError.contract(
                        stage: stage, tensor: spec.name, problem: "the size of axis \(name) is not known")
                }
                return value
            }
        }
    }

    /// Whether `spec` has the object batch as its first axis.
    public static func isBatched(_ spec: TensorSpec) -> Bool {
        spec.shape.first == .symbol(batchSymbol)
    }

    /// The object batch of a call: the common first axis of every batched input (nil when the stage has
    /// none, as the image encoder). Throws naming the tensor whose batch differs from the first one's.
    public static func batch(of inputs: [String: Tensor], specs: [TensorSpec], stage: StageName) throws -> Int? {
        var found: (name: String, size: Int)?
        for spec in specs where isBatched(spec) {
            guard let size = inputs[spec.name]?.shape.first else { continue }
            if let first = found, first.size != size {
                throw EdgeTAMError.contract(
                    stage: stage, tensor: spec.name,
                    problem: "holds \(size) objects, but \(first.name) holds \(first.size); one call takes one batch")
            }
            found = found ?? (spec.name, size)
        }
        return found?.size
    }

    /// Checks a call before it runs: exactly the contract's input names, shapes with the capacities (K, N, P)
    /// fixed where the export fixes them, one object batch across the inputs, within `batchRange` when the
    /// export bounds it. Returns the batch (1 for a stage without one). Errors name the stage and tensor.
    @discardableResult
    public static func checkCall(
        _ inputs: [String: Tensor], contract: StageContract, stage: StageName, capacities: Capacities
    ) throws -> Int {
        try contract.check(inputs, against: contract.inputs, stage: stage, sizes: capacities.contractSizes)
        guard let batch = try batch(of: inputs, specs: contract.inputs, stage: stage) else { return 1 }
        let name = contract.inputs.first(where: isBatched)?.name ?? "-"
        if batch < 1 {
            throw EdgeTAMError.contract(stage: stage, tensor: name, problem: "holds no object (batch 0)")
        }
        if let range = capacities.batch, !range.contains(batch) {
            throw EdgeTAMError.contract(
                stage: stage, tensor: name,
                problem: "holds \(batch) objects; this export takes \(range.lowerBound)...\(range.upperBound) per call "
                    + "(export again with a larger --max-objects, or call with fewer objects)")
        }
        return batch
    }

    /// Checks a stage's outputs for a call with `batch` objects (names and fully resolved shapes).
    public static func checkOutputs(
        _ outputs: [String: Tensor], contract: StageContract, stage: StageName, batch: Int, capacities: Capacities
    ) throws {
        var sizes = capacities.contractSizes
        sizes[batchSymbol] = batch
        try contract.check(outputs, against: contract.outputs, stage: stage, sizes: sizes)
    }
}
