/// What a benchmark measures: a stage runner, how it loads a stage's model (timed as the load time), and
/// how the report names it. `CoreMLStageRunner` and `StandInRunner` each supply one.
public struct BenchmarkTarget {
    /// The runner every timed call goes through.
    public var runner: StageRunner
    /// "coreml", or "stand-in" for the test runner.
    public var backend: String
    /// The Core ML setting, or nil for a runner without one.
    public var computeUnits: ComputeUnits?
    /// Loads (and compiles) one stage's model so its first call pays nothing more; timed per stage.
    public var load: (StageName) throws -> Void

    public init(
        runner: StageRunner, backend: String, computeUnits: ComputeUnits?, load: @escaping (StageName) throws -> Void
    ) {
        self.runner = runner
        self.backend = backend
        self.computeUnits = computeUnits
        self.load = load
    }
}

/// How much to measure.
public struct BenchmarkOptions: Sendable, Equatable {
    /// Untimed calls (or frames) before the timed ones.
    public var warmup: Int
    /// Timed calls per stage.
    public var runs: Int
    /// Timed tracked frames per object count.
    public var trackedFrames: Int
    /// Object counts of the tracked-frame rows.
    public var objects: [Int]

    public init(warmup: Int = 2, runs: Int = 10, trackedFrames: Int = 8, objects: [Int] = [1, 2, 4]) {
        self.warmup = warmup
        self.runs = runs
        self.trackedFrames = trackedFrames
        self.objects = objects
    }

    /// Throws an input error naming the first option out of range.
    public func validate() throws {
        if warmup < 0 { throw EdgeTAMError.input("--warmup must be 0 or more, got \(warmup)") }
        if runs < 1 { throw EdgeTAMError.input("--runs must be 1 or more, got \(runs)") }
        if trackedFrames < 1 { throw EdgeTAMError.input("--frames must be 1 or more, got \(trackedFrames)") }
        if objects.isEmpty || objects.contains(where: { $0 < 1 || $0 > SyntheticClip.maxObjects }) {
            throw EdgeTAMError.input(
                "object counts must be between 1 and \(SyntheticClip.maxObjects) (the clip has that many clicks), "
                    + "got \(objects)")
        }
    }
}
