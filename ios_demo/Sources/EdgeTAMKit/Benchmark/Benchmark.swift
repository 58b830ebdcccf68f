import Foundation

/// The on-device benchmark: each stage timed alone (load time, median and p90 after warm-up, peak memory),
/// then a tracked frame for each object count and the first prompted frame, written as a `BenchmarkReport`
/// in the schema the Python benchmark writes (`benchmarks/schema.py`).
///
/// A frame is driven the way a tracked frame calls the stages: the image encoder once, then memory
/// attention, the mask decoder and the memory encoder, each one call for all B objects, every stage fed the
/// outputs of the stages before it. The first (prompted) frame runs the image encoder, the mask decoder
/// without memory (`no_memory` = 1, the frame's features for every object) and the memory encoder
/// (`is_prompted` = 1). The memory inputs (bank slots, pointers) are contract-shaped examples built once per
/// object count, so frame times are the stages' own time: no preprocessing, bank bookkeeping or mask resizing.
public struct Benchmark {
    /// Steady-frame capacities where the export keeps them dynamic: one conditioning memory, 16 pointers,
    /// one point (as the Python benchmark's CAPACITY_DEFAULTS).
    public static let dynamicCapacityDefaults = ["K": 1, "N": 16, "P": 1]

    public let manifest: Manifest
    public let format: String
    public let options: BenchmarkOptions
    /// Progress lines (each stage and object count as it is measured).
    public var say: (String) -> Void

    private let section: Manifest.FormatSection

    /// A benchmark of one format section ("coreml" on device) of an export's manifest.
    public init(
        manifest: Manifest, format: String = "coreml", options: BenchmarkOptions = BenchmarkOptions(),
        say: @escaping (String) -> Void = { _ in }
    ) throws {
        try options.validate()
        self.manifest = manifest
        self.format = format
        self.options = options
        self.say = say
        section = try manifest.format(format)
        for stage in Self.frameStages { _ = try section.stage(stage) }
    }

    /// The stages of a tracked frame, in call order.
    public static let frameStages: [StageName] = [.imageEncoder, .memoryAttention, .maskDecoder, .memoryEncoder]

    /// Contract sizes of a call with `batch` objects: the config's symbols, the export's capacities (or the
    /// steady-frame defaults where it keeps them dynamic) and B.
    public func sizes(batch: Int) -> [String: Int] {
        var sizes = manifest.model.config.contractSizes
        for (symbol, fallback) in Self.dynamicCapacityDefaults {
            sizes[symbol] = section.capacities.contractSizes[symbol] ?? fallback
        }
        sizes[ContractShapes.batchSymbol] = batch
        return sizes
    }

    /// Measures `target` and returns the report. `device` describes this device; `export` names the folder.
    public func run(_ target: BenchmarkTarget, device: BenchmarkReport.Device, export: String? = nil) throws
        -> BenchmarkReport
    {
        let recorder = CallRecorder(target.runner, section: section)
        var stages: [BenchmarkReport.StageRow] = []
        for stage in StageName.allCases where section.stages[stage.rawValue] != nil {
            stages.append(try measureStage(stage, target: target, recorder: recorder))
        }
        var frames: [BenchmarkReport.FrameRow] = []
        for objects in options.objects {
            frames.append(try measureFrames(objects: objects, recorder: recorder))
        }
        let setting = BenchmarkReport.Setting(
            backend: target.backend, computeUnits: target.computeUnits, precision: section.precision,
            imageSize: manifest.model.config.imageSize, warmup: options.warmup, runs: options.runs,
            trackedFrames: options.trackedFrames, objects: options.objects, export: export)
        return BenchmarkReport(
            created: Self.timestamp(), tool: .init(name: "edgetam-bench", version: manifest.toolkit.version),
            device: device, setting: setting, stages: stages, frames: frames)
    }

    // MARK: - stages

    private func measureStage(_ stage: StageName, target: BenchmarkTarget, recorder: CallRecorder) throws
        -> BenchmarkReport.StageRow
    {
        let sizes = sizes(batch: 1)
        let load = try Self.seconds { try target.load(stage) }
        let inputs = try ExampleInputs.make(stage, contract: try section.stage(stage).contract, sizes: sizes)
        let times = try Self.repeatTimed(warmup: options.warmup, runs: options.runs) {
            _ = try recorder.run(stage, inputs)
        }
        let summary = LatencySummary(seconds: times)
        // 0 only where the system reports no peak (neither an Apple platform nor Linux).
        let peak = ResidentMemory.peakMB() ?? 0
        say(
            "  \(stage.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)) "
                + String(
                    format: "%9.2f ms median  %9.2f ms p90  load %8.1f ms  peak %6.0f MB", summary.medianMs,
                    summary.p90Ms, load * 1e3, peak))
        let capacities = ["B", "K", "N", "P"].reduce(into: [String: Int]()) { $0[$1] = sizes[$1] }
        return BenchmarkReport.StageRow(
            stage: stage.rawValue, batch: 1, medianMs: summary.medianMs, p90Ms: summary.p90Ms, minMs: summary.minMs,
            runs: summary.runs, loadMs: load * 1e3, peakRssMb: peak, sizes: capacities)
    }

    // MARK: - frames

    private func measureFrames(objects: Int, recorder: CallRecorder) throws -> BenchmarkReport.FrameRow {
        let sizes = sizes(batch: objects)
        var examples: [StageName: [String: Tensor]] = [:]
        for stage in Self.frameStages {
            examples[stage] = try ExampleInputs.make(stage, contract: try section.stage(stage).contract, sizes: sizes)
        }
        let first = try Self.seconds { try prompted(objects: objects, examples: examples, runner: recorder) }
        var patterns: [[String: [Int]]] = []
        let times = try Self.repeatTimed(warmup: options.warmup, runs: options.trackedFrames) {
            let start = recorder.calls.count
            try tracked(examples: examples, runner: recorder)
            patterns.append(Self.pattern(recorder.calls[start...]))
        }
        let timed = Array(patterns.suffix(options.trackedFrames))
        let summary = LatencySummary(seconds: times)
        say(
            "  \(objects) object(s): "
                + String(
                    format: "first frame %.1f ms, tracked %.1f ms median, %.1f ms p90", first * 1e3,
                    summary.medianMs, summary.p90Ms))
        return BenchmarkReport.FrameRow(
            objects: objects, firstFrameMs: first * 1e3, medianMs: summary.medianMs, p90Ms: summary.p90Ms,
            runs: summary.runs, calls: timed.first ?? [:], callsSameEveryFrame: timed.allSatisfy { $0 == timed.first })
    }

    /// The first frame of `objects` objects, each prompted with one click: no memory yet.
    func prompted(objects: Int, examples: [StageName: [String: Tensor]], runner: StageRunner) throws {
        let image = try runner.run(.imageEncoder, examples[.imageEncoder] ?? [:])
        var decoder = examples[.maskDecoder] ?? [:]
        try feed(&decoder, from: image, names: ["high_res_0", "high_res_1"], stage: .imageEncoder)
        decoder["image_embed"] = try output(image, "vision_feats", of: .imageEncoder).repeatedBatch(objects)
        decoder["no_memory"] = Tensor(repeating: 1, shape: decoder["no_memory"]?.shape ?? [objects, 1])
        let masks = try runner.run(.maskDecoder, decoder)
        var encoder = examples[.memoryEncoder] ?? [:]
        try feed(&encoder, from: image, names: ["vision_feats"], stage: .imageEncoder)
        try feed(&encoder, from: masks, names: ["low_res_masks"], stage: .maskDecoder)
        encoder["is_prompted"] = Tensor(repeating: 1, shape: encoder["is_prompted"]?.shape ?? [objects, 1])
        _ = try runner.run(.memoryEncoder, encoder)
    }

    /// One tracked frame: every stage once, the per-object stages with all objects in one call.
    func tracked(examples: [StageName: [String: Tensor]], runner: StageRunner) throws {
        let image = try runner.run(.imageEncoder, examples[.imageEncoder] ?? [:])
        var attention = examples[.memoryAttention] ?? [:]
        try feed(&attention, from: image, names: ["vision_feats"], stage: .imageEncoder)
        let conditioned = try runner.run(.memoryAttention, attention)
        var decoder = examples[.maskDecoder] ?? [:]
        try feed(&decoder, from: image, names: ["high_res_0", "high_res_1"], stage: .imageEncoder)
        decoder["image_embed"] = try output(conditioned, "pix_feat_with_mem", of: .memoryAttention)
        let masks = try runner.run(.maskDecoder, decoder)
        var encoder = examples[.memoryEncoder] ?? [:]
        try feed(&encoder, from: image, names: ["vision_feats"], stage: .imageEncoder)
        try feed(&encoder, from: masks, names: ["low_res_masks"], stage: .maskDecoder)
        _ = try runner.run(.memoryEncoder, encoder)
    }

    private func output(_ outputs: [String: Tensor], _ name: String, of stage: StageName) throws -> Tensor {
        guard let tensor = outputs[name] else {
            throw EdgeTAMError.contract(stage: stage, tensor: name, problem: "missing from the stage's outputs")
        }
        return tensor
    }

    private func feed(
        _ inputs: inout [String: Tensor], from outputs: [String: Tensor], names: [String], stage: StageName
    )
        throws
    {
        for name in names { inputs[name] = try output(outputs, name, of: stage) }
    }

    /// A frame's calls as the report records them: stage → the batch of each call.
    static func pattern(_ calls: ArraySlice<(stage: StageName, batch: Int)>) -> [String: [Int]] {
        calls.reduce(into: [:]) { $0[$1.stage.rawValue, default: []].append($1.batch) }
    }

    // MARK: - timing

    /// Seconds `body` takes (monotonic clock).
    static func seconds(_ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        let elapsed = clock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// `warmup` untimed calls of `body`, then the seconds of each of `runs` timed calls.
    static func repeatTimed(warmup: Int, runs: Int, _ body: () throws -> Void) throws -> [Double] {
        for _ in 0..<warmup { try body() }
        return try (0..<runs).map { _ in try seconds(body) }
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }
}

/// Passes every call through to a runner and records its stage and object batch (the report's `calls`).
final class CallRecorder: StageRunner {
    private(set) var calls: [(stage: StageName, batch: Int)] = []
    private let inner: StageRunner
    private let section: Manifest.FormatSection

    init(_ inner: StageRunner, section: Manifest.FormatSection) {
        self.inner = inner
        self.section = section
    }

    func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let specs = try section.stage(stage).inputs
        calls.append((stage, try ContractShapes.batch(of: inputs, specs: specs, stage: stage) ?? 1))
        return try inner.run(stage, inputs)
    }
}
