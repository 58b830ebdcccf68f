/// One frame's masks for every object of the session (`runtime/tracker.py` `FrameResult`).
public struct FrameResult: Sendable, Equatable {
    /// The frame's index in the video (or in push order, streaming).
    public let frameIndex: Int
    /// The objects, in row order of `maskLogits` and `objectScoreLogits`.
    public let objIDs: [Int]
    /// Mask logits `[N, H, W]` at the frame's size; > 0 is foreground.
    public let maskLogits: Tensor
    /// Object score logits `[N]`; > 0: the object is present.
    public let objectScoreLogits: [Float]

    /// The frame's height and width.
    public var size: (height: Int, width: Int) {
        (maskLogits.shape[1], maskLogits.shape[2])
    }

    /// Boolean masks `[N, H, W]`, flat in C order (logits > 0).
    public var masks: [Bool] { maskLogits.scalars.map { $0 > 0 } }

    /// One object's boolean mask (H×W, row-major), or nil for an unknown id.
    public func mask(of objectID: Int) -> [Bool]? {
        guard let row = objIDs.firstIndex(of: objectID) else { return nil }
        return maskLogits.row(row).scalars.map { $0 > 0 }
    }
}

/// What a session holds (`Session.stats()` in Python): frames with retained outputs, bytes of all retained
/// state, objects.
public struct SessionStats: Sendable, Equatable, Codable {
    public var framesRetained: Int
    public var stateBytes: Int
    public var objects: Int

    public init(framesRetained: Int, stateBytes: Int, objects: Int) {
        self.framesRetained = framesRetained
        self.stateBytes = stateBytes
        self.objects = objects
    }

    enum CodingKeys: String, CodingKey {
        case framesRetained = "frames_retained", stateBytes = "state_bytes", objects
    }
}
