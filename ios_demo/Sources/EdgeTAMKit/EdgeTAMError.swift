/// Every error EdgeTAMKit throws. Each message says what is wrong and what to do about it.
///
/// `input` and `session` mirror the Python runtime's `InputError` and `SessionError`: a trace records which
/// of the two a call raised, and a replay must raise the same kind.
public enum EdgeTAMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An export folder or its manifest.json is missing, unreadable or malformed.
    case manifest(path: String, problem: String)
    /// A manifest or trace written in a format version this package does not read.
    case formatVersion(path: String, found: Int?, supported: Int)
    /// A frame, prompt or argument the tracker cannot use (Python's `InputError`).
    case input(String)
    /// A call that does not fit the session's state (Python's `SessionError`).
    case session(String)
    /// A tensor handed to or returned by a stage does not fit the stage contract.
    case contract(stage: StageName, tensor: String, problem: String)
    /// A trace or safetensors file that cannot be read.
    case traceFile(path: String, problem: String)
    /// A replayed stage call differs from the recorded one (`call` indexes the trace's stage calls).
    case stageCallMismatch(call: Int, stage: String, tensor: String, index: Int?, expected: String, actual: String)
    /// A replayed session call gave a different result, error or stats (`call` indexes the trace's program).
    case resultMismatch(call: Int, what: String, expected: String, actual: String)
    /// Core ML is not available on this platform.
    case coreMLUnavailable(String)
    /// Core ML failed to load or run a stage.
    case coreMLFailed(stage: StageName, problem: String)
    /// The export was built for a newer OS (or an unknown deployment target) than the one running.
    case deploymentTarget(required: String, running: String)

    /// The Python runtime's name for this kind of error, as traces record it ("InputError", "SessionError").
    public var pythonType: String? {
        switch self {
        case .input: "InputError"
        case .session: "SessionError"
        default: nil
        }
    }

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case let .manifest(path, problem):
            "\(path): \(problem); export again with `edgetam-export export --out FOLDER`"
        case let .formatVersion(path, found, supported):
            "\(path) has format_version \(found.map(String.init) ?? "none"), this package reads version "
                + "\(supported); write it again with this toolkit's edgetam-export"
        case let .input(message), let .session(message):
            message
        case let .contract(stage, tensor, problem):
            "stage \(stage.rawValue), tensor \(tensor): \(problem); check that the export folder matches "
                + "this package's stage contract (export again with this toolkit)"
        case let .traceFile(path, problem):
            "\(path): \(problem); record the trace again with the Python runtime"
        case let .stageCallMismatch(call, stage, tensor, index, expected, actual):
            "stage call \(call) (\(stage)), tensor \(tensor)"
                + (index.map { ", flat index \($0)" } ?? "")
                + ": recorded \(expected), Swift gave \(actual); the Swift driver differs from the Python one here"
        case let .resultMismatch(call, what, expected, actual):
            "program call \(call): \(what) differs: recorded \(expected), Swift gave \(actual)"
        case let .coreMLUnavailable(message):
            "Core ML is not available: \(message); run on iOS 17 / macOS 14 or newer, or use a replay runner"
        case let .coreMLFailed(stage, problem):
            "Core ML failed on stage \(stage.rawValue): \(problem)"
        case let .deploymentTarget(required, running):
            "the Core ML export needs \(required), but this is \(running); export again with "
                + "`edgetam-export export --coreml-target iOS17`, or run on a newer OS"
        }
    }
}
