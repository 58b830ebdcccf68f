/// Which processors Core ML may run a model on: a mirror of Core ML's `MLComputeUnits` that exists on every
/// platform, so the benchmark and its report compile and test on Linux. Raw values are the names
/// coremltools and the Python benchmark use ("CPU_ONLY", ...), which is how a report records the setting.
public enum ComputeUnits: String, CaseIterable, Codable, Sendable {
    /// The CPU alone (float32 where the model allows; the reference point).
    case cpuOnly = "CPU_ONLY"
    /// CPU and GPU.
    case cpuAndGPU = "CPU_AND_GPU"
    /// CPU and Neural Engine (float16 on the Neural Engine).
    case cpuAndNeuralEngine = "CPU_AND_NE"
    /// Whatever Core ML chooses among CPU, GPU and Neural Engine, per layer.
    case all = "ALL"

    /// The command-line spelling: `cpu`, `cpu-gpu`, `cpu-ne`, `all`.
    public var flag: String {
        switch self {
        case .cpuOnly: "cpu"
        case .cpuAndGPU: "cpu-gpu"
        case .cpuAndNeuralEngine: "cpu-ne"
        case .all: "all"
        }
    }

    /// The setting for a command-line spelling (`cpu`, `cpu-gpu`, `cpu-ne`, `all`), or nil.
    public init?(flag: String) {
        guard let match = ComputeUnits.allCases.first(where: { $0.flag == flag }) else { return nil }
        self = match
    }

    /// One line on what the setting means, for help texts and the app.
    public var meaning: String {
        switch self {
        case .cpuOnly: "CPU only: the baseline every device has"
        case .cpuAndGPU: "CPU and GPU: the GPU runs what it supports, the CPU the rest"
        case .cpuAndNeuralEngine: "CPU and Neural Engine: float16 layers on the Neural Engine, the CPU the rest"
        case .all: "all: Core ML picks CPU, GPU or Neural Engine per layer"
        }
    }
}
