/// One input or output of a stage as the contract describes it (`runtime/contract.py`).
public struct TensorSpec: Sendable, Equatable, Codable {
    /// The tensor's name, the key of a stage's input or output dictionary.
    public var name: String
    /// Its shape: numbers, or symbols ("B", and "K"/"N"/"P" where the export keeps them dynamic).
    public var shape: [Dimension]
    /// Its element type in the exported graph ("float32" or "float16").
    public var dtype: String
    /// What it holds.
    public var description: String

    public init(name: String, shape: [Dimension], dtype: String = "float32", description: String = "") {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.description = description
    }

    /// Whether a tensor of `shape` fits this spec, given values for symbols (e.g. the capacities).
    public func accepts(shape other: [Int], sizes: [String: Int] = [:]) -> Bool {
        other.count == shape.count && zip(shape, other).allSatisfy { $0.accepts($1, sizes: sizes) }
    }
}

/// A stage's contract: its input and output tensors.
public struct StageContract: Sendable, Equatable, Codable {
    public var inputs: [TensorSpec]
    public var outputs: [TensorSpec]

    public init(inputs: [TensorSpec], outputs: [TensorSpec]) {
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Checks that `tensors` are exactly the contract's tensors (names and shapes); throws an error naming
    /// the stage and the first tensor that does not fit.
    public func check(
        _ tensors: [String: Tensor], against specs: [TensorSpec], stage: StageName, sizes: [String: Int] = [:]
    ) throws {
        for spec in specs {
            guard let tensor = tensors[spec.name] else {
                throw EdgeTAMError.contract(stage: stage, tensor: spec.name, problem: "missing")
            }
            if !spec.accepts(shape: tensor.shape, sizes: sizes) {
                throw EdgeTAMError.contract(
                    stage: stage, tensor: spec.name,
                    problem: "shape \(tensor.shape) does not fit the contract's \(spec.shape)")
            }
        }
        let expected = Set(specs.map(\.name))
        if let extra = tensors.keys.sorted().first(where: { !expected.contains($0) }) {
            throw EdgeTAMError.contract(stage: stage, tensor: extra, problem: "not a tensor of this stage")
        }
    }
}
