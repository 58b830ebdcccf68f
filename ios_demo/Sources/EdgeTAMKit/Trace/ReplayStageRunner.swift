/// A `StageRunner` that serves a trace's recorded stage calls in order: each request must match the next
/// recorded call — same stage, same input names, same shapes, equal values — and gets the recorded outputs.
/// A mismatch throws `EdgeTAMError.stageCallMismatch` naming the call index, stage, tensor and flat index
/// with both values.
public final class ReplayStageRunner: StageRunner {
    /// The trace whose stage calls are served.
    public let trace: Trace
    /// How inputs are compared with the recorded ones.
    public let tolerance: ReplayTolerance
    /// The index of the next recorded call to serve.
    public private(set) var position = 0
    /// The largest |difference| seen in stage inputs (0 when every input was bit-exact).
    public private(set) var largestInputDifference: Float = 0

    /// A runner serving `trace`'s stage calls from the first.
    public init(trace: Trace, tolerance: ReplayTolerance = .exact) {
        self.trace = trace
        self.tolerance = tolerance
    }

    /// Whether every recorded call has been served.
    public var isExhausted: Bool { position == trace.file.stageCalls.count }

    /// Checks `inputs` against the next recorded call and returns its recorded outputs.
    public func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let calls = trace.file.stageCalls
        let index = position
        guard index < calls.count else {
            throw EdgeTAMError.stageCallMismatch(
                call: index, stage: stage.rawValue, tensor: "-", index: nil,
                expected: "no more calls (\(calls.count) recorded)", actual: "a \(stage.rawValue) call")
        }
        let recorded = calls[index]
        guard stage.rawValue == recorded.stage else {
            throw EdgeTAMError.stageCallMismatch(
                call: index, stage: recorded.stage, tensor: "-", index: nil, expected: "stage \(recorded.stage)",
                actual: "stage \(stage.rawValue)")
        }
        guard inputs.keys.sorted() == recorded.inputs.keys.sorted() else {
            throw EdgeTAMError.stageCallMismatch(
                call: index, stage: recorded.stage, tensor: "-", index: nil,
                expected: "inputs \(recorded.inputs.keys.sorted())", actual: "inputs \(inputs.keys.sorted())")
        }
        for name in inputs.keys.sorted() {
            try check(inputs[name]!, against: try trace.tensor(recorded.inputs[name]!), call: index, stage: recorded.stage, name: name)
        }
        position += 1
        return try recorded.outputs.mapValues { try trace.tensor($0) }
    }

    private func check(_ actual: Tensor, against expected: Tensor, call: Int, stage: String, name: String) throws {
        guard actual.shape == expected.shape else {
            throw EdgeTAMError.stageCallMismatch(
                call: call, stage: stage, tensor: name, index: nil, expected: "shape \(expected.shape)",
                actual: "shape \(actual.shape)")
        }
        let comparison = Comparison(actual.scalars, expected.scalars, tolerance: tolerance)
        largestInputDifference = max(largestInputDifference, comparison.largest)
        if let bad = comparison.mismatch {
            throw EdgeTAMError.stageCallMismatch(
                call: call, stage: stage, tensor: name, index: bad.index, expected: "\(bad.expected)",
                actual: "\(bad.actual)")
        }
    }
}
