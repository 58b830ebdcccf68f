/// A tracking session: the Swift port of `runtime/tracker.py` `Session`, with the same semantics — prompts on
/// any frame, several objects batched, corrections on tracked frames, several conditioning frames, forward
/// and reverse propagation, objects that vanish and return, and a streaming mode with constant state.
///
/// It makes exactly the stage calls the Python session makes, in the same order with the same inputs (the
/// trace replay proves it). Not thread-safe: drive one session from one thread.
public final class Session {
    /// A mask score (and object score) that marks an absent object, as the original uses.
    static let noObjectScore: Float = -1024
    /// Previous logits fed back with correction clicks are clamped to ±32, as in the original.
    static let maskLogitClamp: Float = 32
    /// A mask prompt becomes logits `mask · 20 − 10` (±10).
    static let maskPromptScale: Float = 20
    static let maskPromptBias: Float = -10

    let runner: StageRunner
    let config: ModelConfig
    let capacities: Capacities
    let preprocess: Preprocessor
    /// Side of the decoder's mask logits.
    let lowResSize: Int
    /// Whether frames are pushed one at a time.
    public let isStreaming: Bool
    let frames: FrameSource?
    /// The frame's height and width (0 until a streaming session's first push).
    public private(set) var height = 0
    public private(set) var width = 0
    var newestFrame: PixelBuffer?
    var numPushed = 0
    var state = SessionState()
    /// Caches of stage outputs (not state: recomputable): the newest frame's image features, which prompts on
    /// it and then tracking it share, as the original caches them; and the learned no-object pointer.
    var features: (frame: Int, outputs: [String: Tensor])?
    var noObjectPointer: Tensor?

    init(tracker: Tracker, frames: FrameSource) throws {
        runner = tracker.runner
        config = tracker.config
        capacities = tracker.capacities
        preprocess = Preprocessor(imageSize: tracker.config.imageSize)
        lowResSize = tracker.config.lowResMaskSize
        isStreaming = false
        self.frames = frames
        if frames.count == 0 {
            throw EdgeTAMError.input("the video has no frames; give at least one H×W×3 uint8 frame")
        }
        let first = try frames.frame(at: 0)
        (height, width) = (first.height, first.width)
    }

    init(streamingOn tracker: Tracker) {
        runner = tracker.runner
        config = tracker.config
        capacities = tracker.capacities
        preprocess = Preprocessor(imageSize: tracker.config.imageSize)
        lowResSize = tracker.config.lowResMaskSize
        isStreaming = true
        frames = nil
    }

    /// The number of frames of an offline session (nil while streaming).
    public var numFrames: Int? { frames?.count }

    /// The objects prompted so far, in row order of every result.
    public var objIDs: [Int] { state.objIDs }

    /// Prompts one object on one frame — points with labels (1 positive, 0 negative), a box, both, or a
    /// mask, all in frame pixels — and runs that frame. Returns every object's result on that frame
    /// (objects with no output there get score −1024).
    ///
    /// The prompt replaces the object's earlier prompt on that frame. On a frame already tracked it is a
    /// correction: the previous mask is fed back with the new points, as in the original. New objects can
    /// join only before tracking starts (`EdgeTAMError.session` otherwise).
    public func addPrompt(
        frameIndex: Int, objectID: Int, points: [Point]? = nil, labels: [Int]? = nil, box: Box? = nil,
        mask: BinaryMask? = nil
    ) throws -> FrameResult {
        try checkPromptFrame(frameIndex)
        if mask != nil && (points != nil || box != nil) {
            throw EdgeTAMError.input("give either a mask or points/box for one call, not both")
        }
        var binary: Tensor?
        var modelPoints: ModelPoints?
        if let mask {
            binary = try maskPrompt(mask, width: width, height: height)
        } else {
            modelPoints = try pointPrompt(
                points: points, labels: labels, box: box, width: width, height: height, imageSize: config.imageSize)
        }
        let object = try objectIndex(objectID)
        let (kind, reverse) = state.promptKind(frameIndex)
        let feats = try imageFeatures(frameIndex)
        let output: ObjectOutput
        if let binary {
            output = try decodeMaskPrompt(feats, binary)
        } else {
            output = try decodePoints(frameIndex, object, feats, modelPoints!, kind, reverse: reverse)
        }
        state.setPending(kind, frame: frameIndex, object: object, output)
        return promptFrameResult(frameIndex, kind)
    }

    /// Tracks every object through the video from `start` (default: the earliest prompted frame), forward or
    /// in reverse, for at most `maxFrames` frames after the start; returns each frame's result in order.
    public func propagate(from start: Int? = nil, maxFrames: Int? = nil, reverse: Bool = false) throws -> [FrameResult] {
        var results: [FrameResult] = []
        let run = try propagation(from: start, maxFrames: maxFrames, reverse: reverse)
        while let result = try run.next() {
            results.append(result)
        }
        return results
    }

    /// Like `propagate`, one frame per `next()` call, so an app can show each frame as it is tracked.
    /// The prompts are consolidated and the arguments checked when this is called.
    public func propagation(from start: Int? = nil, maxFrames: Int? = nil, reverse: Bool = false) throws -> Propagation {
        if isStreaming {
            throw EdgeTAMError.session(
                "a streaming session tracks as frames arrive: call push(frame) instead of propagate()")
        }
        try consolidatePrompts()
        guard let first = state.cond.frames.min() else {
            throw EdgeTAMError.session("nothing to track yet: add a prompt with addPrompt() first")
        }
        let count = numFrames ?? 0
        let from = start ?? first
        guard from >= 0 && from < count else {
            throw EdgeTAMError.input("start frame \(from) is outside the video (0..\(count - 1))")
        }
        let limit = maxFrames ?? count
        let order: [Int]
        if reverse {
            let end = max(from - limit, 0)
            order = from > 0 && from >= end ? Array(stride(from: from, through: end, by: -1)) : []
        } else {
            let end = min(from + limit, count - 1)
            order = from <= end ? Array(from...end) : []
        }
        return Propagation(session: self, order: order, reverse: reverse)
    }

    /// Streaming: takes the next frame, tracks every prompted object on it and returns its result.
    ///
    /// Before any prompt there is nothing to track and the result holds no objects; prompt the frame just
    /// pushed with `addPrompt`, and later frames are tracked from it.
    public func push(_ frame: PixelBuffer) throws -> FrameResult {
        guard isStreaming else {
            throw EdgeTAMError.session("push() is for streaming sessions (tracker.startStreaming())")
        }
        let frameIndex = numPushed
        try checkFrameSize(frame, frameIndex)
        if frameIndex == 0 {
            (height, width) = (frame.height, frame.width)
        }
        try consolidatePrompts()  // prompts were on the previous frame, which is still held
        newestFrame = frame  // only the newest frame is kept
        numPushed += 1
        if state.cond.isEmpty {
            return result(frameIndex, nil)
        }
        let memory = try trackOrReuse(frameIndex, reverse: false)
        let output = result(frameIndex, memory)
        state.forgetUnreachable(
            frame: frameIndex, recent: config.numMaskmem - 1, ptrWindow: config.maxObjPtrsInEncoder - 1,
            maxCond: capacities.condSlots)
        return output
    }

    /// What the session holds: frames with retained outputs, the bytes of all retained state (bank, pending
    /// prompt outputs, the cached image features and, streaming, the newest frame), and the objects.
    public func stats() -> SessionStats {
        var bytes = state.byteCount
        bytes += features?.outputs.values.reduce(0) { $0 + $1.byteCount } ?? 0
        if isStreaming {
            bytes += newestFrame?.bytes.count ?? 0
        }
        return SessionStats(framesRetained: state.framesRetained, stateBytes: bytes, objects: state.objIDs.count)
    }
}

/// A propagation in progress: `next()` tracks the next frame (nil when done).
public final class Propagation {
    private let session: Session
    private let order: [Int]
    private let reverse: Bool
    private var position = 0

    init(session: Session, order: [Int], reverse: Bool) {
        self.session = session
        self.order = order
        self.reverse = reverse
    }

    /// The frames this propagation visits, in order.
    public var frames: [Int] { order }

    /// Tracks the next frame and returns its result, or nil after the last frame.
    public func next() throws -> FrameResult? {
        guard position < order.count else { return nil }
        let frame = order[position]
        position += 1
        return session.result(frame, try session.trackOrReuse(frame, reverse: reverse))
    }
}
