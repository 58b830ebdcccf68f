/// A runner that executes no model: it checks every call against the export's stage contract (names,
/// shapes, capacities, one object batch) and returns zero tensors of the contract's output shapes. It
/// stands in for Core ML where Core ML does not exist (Linux, tests), so the benchmark's driving, its
/// report and the call pattern of a tracked frame are tested everywhere. Its timings measure nothing.
public final class StandInRunner: StageRunner {
    /// Every call made, in order: the stage and its object batch.
    public private(set) var calls: [(stage: StageName, batch: Int)] = []
    /// Stages loaded through `load`.
    public private(set) var loaded: Set<StageName> = []

    private let section: Manifest.FormatSection
    private let config: ModelConfig

    /// A stand-in for one format section of an export (its contracts and capacities).
    public init(section: Manifest.FormatSection, config: ModelConfig) {
        self.section = section
        self.config = config
    }

    /// "Loads" a stage: checks that the export lists it.
    public func load(_ stage: StageName) throws {
        _ = try section.stage(stage)
        loaded.insert(stage)
    }

    public func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let contract = try section.stage(stage).contract
        let batch = try ContractShapes.checkCall(
            inputs, contract: contract, stage: stage, capacities: section.capacities)
        calls.append((stage, batch))
        var sizes = config.contractSizes.merging(section.capacities.contractSizes) { _, capacity in capacity }
        sizes[ContractShapes.batchSymbol] = batch
        var outputs: [String: Tensor] = [:]
        for spec in contract.outputs {
            outputs[spec.name] = Tensor(zeros: try ContractShapes.resolve(spec, sizes: sizes, stage: stage))
        }
        return outputs
    }

    /// This runner as a benchmark target (backend "stand-in", no compute units).
    public var target: BenchmarkTarget {
        BenchmarkTarget(runner: self, backend: "stand-in", computeUnits: nil) { [unowned self] in try self.load($0) }
    }
}
