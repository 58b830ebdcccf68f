/// One frame's outputs for all objects of a session, object index on axis 0 (`runtime/memory_bank.py`
/// `FrameMemory`). A streaming session drops the masks and then the memory of frames no later frame reads.
public struct FrameMemory: Sendable, Equatable {
    /// Mask logits `[N, 1, 4F, 4F]`; nil once dropped.
    public var lowResMasks: Tensor?
    /// Object pointers `[N, C]`.
    public var objPtr: Tensor
    /// Object score logits `[N, 1]`.
    public var objectScoreLogits: Tensor
    /// Memory features `[N, T, M]` as bfloat16; nil until encoded, or once dropped.
    public var memBits: BFloat16Tensor?

    public init(lowResMasks: Tensor?, objPtr: Tensor, objectScoreLogits: Tensor, memBits: BFloat16Tensor?) {
        self.lowResMasks = lowResMasks
        self.objPtr = objPtr
        self.objectScoreLogits = objectScoreLogits
        self.memBits = memBits
    }

    /// Bytes held, counted as the Python runtime counts them.
    public var byteCount: Int {
        (lowResMasks?.byteCount ?? 0) + objPtr.byteCount + objectScoreLogits.byteCount + (memBits?.byteCount ?? 0)
    }
}

/// One object's output on one frame (batch axis of 1) before it is consolidated into the bank
/// (`runtime/session_state.py` `ObjectOutput`).
public struct ObjectOutput: Sendable, Equatable {
    /// `[1, 1, 4F, 4F]`
    public var lowResMasks: Tensor
    /// `[1, C]`
    public var objPtr: Tensor
    /// `[1, 1]`
    public var objectScoreLogits: Tensor

    /// Bytes held.
    public var byteCount: Int { lowResMasks.byteCount + objPtr.byteCount + objectScoreLogits.byteCount }
}
