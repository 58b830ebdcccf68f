import Foundation

/// What a replay compared.
public struct ReplaySummary: Sendable, Equatable {
    /// The trace's scenario name.
    public var scenario: String
    /// Public session calls replayed.
    public var programCalls: Int
    /// Stage calls whose inputs were compared.
    public var stageCalls: Int
    /// Frame results compared.
    public var frames: Int
    /// Calls that cannot be replayed (a pushed frame the Python session rejected is not stored).
    public var skippedCalls: Int
    /// The largest |difference| seen per kind ("stage inputs", "mask logits", "object scores"); 0 is bit-exact.
    public var largestDifference: [String: Float]
}

/// Replays a trace through a Swift `Session` over a `ReplayStageRunner`: the trace's program is called in
/// order; every call must make exactly its recorded stage calls, raise the recorded kind of error (if
/// any), and give the recorded results and stats. Any difference throws an `EdgeTAMError` naming it.
public final class TraceReplayer {
    /// The trace replayed.
    public let trace: Trace
    /// How values are compared with the recorded ones.
    public let tolerance: ReplayTolerance

    /// A replayer of `trace`.
    public init(trace: Trace, tolerance: ReplayTolerance = .exact) {
        self.trace = trace
        self.tolerance = tolerance
    }

    /// Loads the trace folder at `folder`.
    public convenience init(folder: URL, tolerance: ReplayTolerance = .exact) throws {
        self.init(trace: try Trace(folder: folder), tolerance: tolerance)
    }

    /// Runs the whole program; returns what was compared, or throws at the first difference.
    public func replay() throws -> ReplaySummary {
        let file = trace.file
        let runner = ReplayStageRunner(trace: trace, tolerance: tolerance)
        let tracker = Tracker(config: file.config, capacities: file.capacities, runner: runner)
        let frames = try trace.frames()
        let session = file.video.streaming ? tracker.startStreaming() : try tracker.start(frames: frames)
        var summary = ReplaySummary(
            scenario: file.scenario, programCalls: file.program.count, stageCalls: 0, frames: 0, skippedCalls: 0,
            largestDifference: ["mask logits": 0, "object scores": 0])

        for (index, call) in file.program.enumerated() {
            try expectPosition(runner.position, call.stageCalls.lowerBound, call: index, when: "starts")
            if case .push(frame: nil) = call.kind {
                summary.skippedCalls += 1  // the rejected frame was not recorded; nothing to replay
                continue
            }
            let outcome = Result { try perform(call.kind, on: session, frames: frames) }
            switch (outcome, call.error) {
            case let (.success(results), nil):
                try compareResults(results, call: call, index: index, summary: &summary)
                if case let .stats(recorded) = call.kind, session.stats() != recorded {
                    throw EdgeTAMError.resultMismatch(
                        call: index, what: "stats", expected: "\(recorded)", actual: "\(session.stats())")
                }
            case let (.failure(error as EdgeTAMError), recorded?) where error.pythonType != nil:
                if error.pythonType != recorded.type {
                    throw EdgeTAMError.resultMismatch(
                        call: index, what: "\(call.name) error", expected: "\(recorded.type): \(recorded.message)",
                        actual: "\(error.pythonType!): \(error)")
                }
            case let (.success, recorded?):
                throw EdgeTAMError.resultMismatch(
                    call: index, what: "\(call.name) outcome", expected: "\(recorded.type): \(recorded.message)",
                    actual: "no error")
            case let (.failure(error), _):
                if case .stageCallMismatch = error as? EdgeTAMError { throw error }
                throw EdgeTAMError.resultMismatch(
                    call: index, what: "\(call.name) outcome", expected: call.error.map { "\($0.type): \($0.message)" }
                        ?? "no error", actual: "\(error)")
            }
            try expectPosition(runner.position, call.stageCalls.upperBound, call: index, when: "ends")
        }
        guard runner.isExhausted else {
            throw EdgeTAMError.resultMismatch(
                call: file.program.count, what: "stage calls made", expected: "\(file.stageCalls.count)",
                actual: "\(runner.position)")
        }
        summary.stageCalls = runner.position
        summary.largestDifference["stage inputs"] = runner.largestInputDifference
        return summary
    }

    private func perform(_ kind: TraceFile.ProgramCall.Kind, on session: Session, frames: [PixelBuffer]) throws -> [FrameResult] {
        switch kind {
        case let .addPrompt(frameIdx, objId, points, labels, box, mask):
            let mask = try mask.map { try trace.mask($0) }
            let prompt = try RecordedPrompt(points: points, labels: labels, box: box)
            return [
                try session.addPrompt(
                    frameIndex: frameIdx, objectID: objId, points: prompt.points, labels: prompt.labels,
                    box: prompt.box, mask: mask)
            ]
        case let .propagate(start, maxFrames, reverse):
            return try session.propagate(from: start, maxFrames: maxFrames, reverse: reverse)
        case let .push(frame?):
            guard frames.indices.contains(frame) else {
                throw EdgeTAMError.traceFile(path: trace.folder.path, problem: "push names frame \(frame), not recorded")
            }
            return [try session.push(frames[frame])]
        case .push(nil), .stats:
            return []
        }
    }

    private func expectPosition(_ position: Int, _ recorded: Int, call: Int, when: String) throws {
        if position != recorded {
            throw EdgeTAMError.resultMismatch(
                call: call, what: "stage call where the call \(when)", expected: "\(recorded)", actual: "\(position)")
        }
    }

    private func compareResults(
        _ results: [FrameResult], call: TraceFile.ProgramCall, index: Int, summary: inout ReplaySummary
    ) throws {
        guard results.count == call.results.count else {
            throw EdgeTAMError.resultMismatch(
                call: index, what: "number of frame results", expected: "\(call.results.count)", actual: "\(results.count)")
        }
        for (result, recordedIndex) in zip(results, call.results) {
            let recorded = trace.file.results[recordedIndex]
            let what = "result \(recordedIndex) (frame \(recorded.frameIdx))"
            guard result.frameIndex == recorded.frameIdx, result.objIDs == recorded.objIds else {
                throw EdgeTAMError.resultMismatch(
                    call: index, what: "\(what) frame and objects", expected: "\(recorded.frameIdx) \(recorded.objIds)",
                    actual: "\(result.frameIndex) \(result.objIDs)")
            }
            let logits = try trace.tensor(recorded.maskLogits)
            let scores = try trace.tensor(recorded.objectScoreLogits)
            try compare(result.maskLogits, logits, kind: "mask logits", what: what, call: index, summary: &summary)
            try compare(
                Tensor(shape: [result.objectScoreLogits.count], scalars: result.objectScoreLogits), scores,
                kind: "object scores", what: what, call: index, summary: &summary)
            summary.frames += 1
        }
    }

    private func compare(
        _ actual: Tensor, _ expected: Tensor, kind: String, what: String, call: Int, summary: inout ReplaySummary
    ) throws {
        guard actual.shape == expected.shape else {
            throw EdgeTAMError.resultMismatch(
                call: call, what: "\(what) \(kind) shape", expected: "\(expected.shape)", actual: "\(actual.shape)")
        }
        let comparison = Comparison(actual.scalars, expected.scalars, tolerance: tolerance)
        summary.largestDifference[kind] = max(summary.largestDifference[kind] ?? 0, comparison.largest)
        if let bad = comparison.mismatch {
            throw EdgeTAMError.resultMismatch(
                call: call, what: "\(what) \(kind) at flat index \(bad.index)", expected: "\(bad.expected)",
                actual: "\(bad.actual)")
        }
    }
}
