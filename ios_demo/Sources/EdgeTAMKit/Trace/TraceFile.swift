import Foundation

/// `trace.json` of a trace folder (format v1, written by the Python runtime's `runtime/trace.py`): the
/// session's program, every stage call and every frame result. Tensor fields hold names of tensors in the
/// folder's `tensors.safetensors`.
public struct TraceFile: Sendable, Decodable {
    /// The trace format this package reads.
    public static let format = "edgetam-trace"
    public static let supportedFormatVersion = 1

    public var format: String
    public var formatVersion: Int
    public var toolkitVersion: String?
    public var backend: String?
    public var scenario: String
    public var config: ModelConfig
    public var capacities: Capacities
    public var video: Video
    public var program: [ProgramCall]
    public var stageCalls: [StageCall]
    public var results: [RecordedResult]

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", toolkitVersion = "toolkit_version", backend, scenario
        case config, capacities, video, program, stageCalls = "stage_calls", results
    }

    /// The recorded video: offline frames, or the pushed frames in push order.
    public struct Video: Sendable, Decodable {
        public var streaming: Bool
        public var numFrames: Int
        public var height: Int
        public var width: Int
        /// U8 `[n, H, W, 3]` RGB.
        public var frames: String

        enum CodingKeys: String, CodingKey {
            case streaming, numFrames = "num_frames", height, width, frames
        }
    }

    /// One stage call: its stage and its input and output tensors by name.
    public struct StageCall: Sendable, Decodable {
        public var stage: String
        public var inputs: [String: String]
        public var outputs: [String: String]
    }

    /// One frame result.
    public struct RecordedResult: Sendable, Decodable {
        public var frameIdx: Int
        public var objIds: [Int]
        /// F32 `[N, H, W]`
        public var maskLogits: String
        /// F32 `[N]`
        public var objectScoreLogits: String

        enum CodingKeys: String, CodingKey {
            case frameIdx = "frame_idx", objIds = "obj_ids", maskLogits = "mask_logits"
            case objectScoreLogits = "object_score_logits"
        }
    }

    /// The error a recorded call raised.
    public struct RecordedError: Sendable, Decodable {
        /// "InputError" or "SessionError".
        public var type: String
        public var message: String
    }

    /// One public session call.
    public struct ProgramCall: Sendable, Decodable {
        /// What was called, with its arguments.
        public enum Kind: Sendable {
            /// Points, labels and box are the JSON as recorded (validated when replayed, as Python validates them).
            case addPrompt(frameIdx: Int, objId: Int, points: JSONValue, labels: JSONValue, box: JSONValue, mask: String?)
            case propagate(startFrameIdx: Int?, maxFrames: Int?, reverse: Bool)
            /// `frame` indexes video.frames; nil for a frame the session rejected (not stored).
            case push(frame: Int?)
            case stats(SessionStats)
        }

        public var kind: Kind
        /// The half-open range of stage calls made during this call.
        public var stageCalls: Range<Int>
        /// Indices into the trace's results.
        public var results: [Int]
        public var error: RecordedError?

        enum CodingKeys: String, CodingKey {
            case call, stageCalls = "stage_calls", results, error
            case frameIdx = "frame_idx", objId = "obj_id", points, labels, box, mask
            case startFrameIdx = "start_frame_idx", maxFrames = "max_frames", reverse, frame, value
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let range = try c.decode([Int].self, forKey: .stageCalls)
            guard range.count == 2, range[0] <= range[1] else {
                throw DecodingError.dataCorruptedError(
                    forKey: .stageCalls, in: c, debugDescription: "stage_calls must be [begin, end]")
            }
            stageCalls = range[0]..<range[1]
            results = try c.decodeIfPresent([Int].self, forKey: .results) ?? []
            error = try c.decodeIfPresent(RecordedError.self, forKey: .error)
            let call = try c.decode(String.self, forKey: .call)
            switch call {
            case "add_prompt":
                kind = .addPrompt(
                    frameIdx: try c.decode(Int.self, forKey: .frameIdx), objId: try c.decode(Int.self, forKey: .objId),
                    points: try c.decodeIfPresent(JSONValue.self, forKey: .points) ?? .null,
                    labels: try c.decodeIfPresent(JSONValue.self, forKey: .labels) ?? .null,
                    box: try c.decodeIfPresent(JSONValue.self, forKey: .box) ?? .null,
                    mask: try c.decodeIfPresent(String.self, forKey: .mask))
            case "propagate":
                kind = .propagate(
                    startFrameIdx: try c.decodeIfPresent(Int.self, forKey: .startFrameIdx),
                    maxFrames: try c.decodeIfPresent(Int.self, forKey: .maxFrames),
                    reverse: try c.decodeIfPresent(Bool.self, forKey: .reverse) ?? false)
            case "push":
                kind = .push(frame: try c.decodeIfPresent(Int.self, forKey: .frame))
            case "stats":
                kind = .stats(try c.decode(SessionStats.self, forKey: .value))
            default:
                throw DecodingError.dataCorruptedError(forKey: .call, in: c, debugDescription: "unknown call \(call)")
            }
        }

        /// The call's name as recorded.
        public var name: String {
            switch kind {
            case .addPrompt: "add_prompt"
            case .propagate: "propagate"
            case .push: "push"
            case .stats: "stats"
            }
        }
    }

    /// Decodes trace.json (NaN and infinities, which Python's json writes for such prompts, are accepted),
    /// checking its format first.
    public static func decode(_ data: Data, path: String) throws -> TraceFile {
        struct Header: Decodable {
            let format: String?
            let formatVersion: Int?
            enum CodingKeys: String, CodingKey { case format, formatVersion = "format_version" }
        }
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: data)
        } catch {
            throw EdgeTAMError.traceFile(path: path, problem: "is not a JSON object (\(error))")
        }
        guard header.format == format else {
            throw EdgeTAMError.traceFile(path: path, problem: "is not an \(format) file (format \(header.format ?? "none"))")
        }
        guard header.formatVersion == supportedFormatVersion else {
            throw EdgeTAMError.formatVersion(path: path, found: header.formatVersion, supported: supportedFormatVersion)
        }
        do {
            return try decoder.decode(TraceFile.self, from: data)
        } catch {
            throw EdgeTAMError.traceFile(path: path, problem: "does not match the trace schema (\(error))")
        }
    }
}
