import Foundation

/// The on-device benchmark: each stage timed alone (load time, median and p90 after warm-up, peak memory),
/// then a tracked frame for each object count and the first prompted frame, written as a `BenchmarkReport`
/// in the schema the Python benchmark writes (`benchmarks/schema.py`).
///
/// Tracked frames go through EdgeTAMKit's own `Session` on a generated 640×360 clip with one click per object
/// on frame 0, as the Python benchmark drives its runtime: the figure is what an app sees per frame
/// (preprocessing, memory bank and mask resizing included), and the report records which stage calls each
/// frame made (the image encoder once, the per-object stages one call for all objects).
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

    /// The session on the generated clip, one click per object on frame 0, as the Python benchmark drives
    /// its runtime: an untimed warm-up session over the first frames, then the first (prompted) frame through
    /// its first result, then every tracked frame (preprocessing, bank and mask resizing included).
    private func measureFrames(objects: Int, recorder: CallRecorder) throws -> BenchmarkReport.FrameRow {
        let tracker = Tracker(config: manifest.model.config, capacities: section.capacities, runner: recorder)
        let clip = try SyntheticClip.frames(count: 1 + options.trackedFrames)
        let clicks = SyntheticClip.clicks(objects: objects, count: clip.count)
        if options.warmup > 0 {
            _ = try timedSession(tracker, frames: Array(clip.prefix(options.warmup + 1)), clicks: clicks, recorder)
        }
        let (seconds, patterns) = try timedSession(tracker, frames: clip, clicks: clicks, recorder)
        let tracked = Array(patterns.dropFirst())
        let summary = LatencySummary(seconds: Array(seconds.dropFirst()))
        say(
            "  \(objects) object(s): "
                + String(
                    format: "first frame %.1f ms, tracked %.1f ms median, %.1f ms p90", seconds[0] * 1e3,
                    summary.medianMs, summary.p90Ms))
        return BenchmarkReport.FrameRow(
            objects: objects, firstFrameMs: seconds[0] * 1e3, medianMs: summary.medianMs, p90Ms: summary.p90Ms,
            runs: summary.runs, calls: tracked.first ?? [:],
            callsSameEveryFrame: tracked.allSatisfy { $0 == tracked.first })
    }

    /// Seconds and stage calls of each result of one session: the prompted frame first (its prompts
    /// included), then each tracked frame.
    func timedSession(_ tracker: Tracker, frames: [PixelBuffer], clicks: [Point], _ recorder: CallRecorder) throws
        -> (seconds: [Double], calls: [[String: [Int]]])
    {
        let session = try tracker.start(frames: frames)
        var seconds: [Double] = []
        var calls: [[String: [Int]]] = []
        var start = recorder.calls.count
        var clock = ContinuousClock.now
        for (index, click) in clicks.enumerated() {
            _ = try session.addPrompt(frameIndex: 0, objectID: index + 1, points: [click], labels: [1])
        }
        let run = try session.propagation()
        while try run.next() != nil {
            seconds.append(Self.elapsed(since: clock))
            calls.append(Self.pattern(recorder.calls[start...]))
            start = recorder.calls.count
            clock = ContinuousClock.now
        }
        return (seconds, calls)
    }

    /// A frame's calls as the report records them: stage → the batch of each call.
    static func pattern(_ calls: ArraySlice<(stage: StageName, batch: Int)>) -> [String: [Int]] {
        calls.reduce(into: [:]) { $0[$1.stage.rawValue, default: []].append($1.batch) }
    }

    // MARK: - timing

    /// Seconds `body` takes (monotonic clock).
    static func seconds(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        return elapsed(since: start)
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
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
