import Testing

@testable import EdgeTAMKit

@Suite struct SessionStateTests {
    private func memory(_ value: Float) -> FrameMemory {
        FrameMemory(
            lowResMasks: Tensor(repeating: value, shape: [1, 1, 2, 2]), objPtr: Tensor(repeating: value, shape: [1, 4]),
            objectScoreLogits: Tensor(repeating: value, shape: [1, 1]),
            memBits: BFloat16Tensor(Tensor(repeating: value, shape: [1, 2, 2])))
    }

    private func output(_ value: Float) -> ObjectOutput {
        let m = memory(value)
        return ObjectOutput(lowResMasks: m.lowResMasks!, objPtr: m.objPtr, objectScoreLogits: m.objectScoreLogits)
    }

    @Test func orderedFramesKeepPythonDictOrder() {
        var frames = OrderedFrames<Int>()
        frames[5] = 1
        frames[2] = 2
        frames[5] = 3  // storing again keeps the place
        #expect(frames.frames == [5, 2] && frames[5] == 3)
        frames[5] = nil
        frames[5] = 4  // removed and stored again: last
        #expect(frames.frames == [2, 5])
    }

    @Test func consolidationMovesConditioningFramesOutOfNonCond() {
        var state = SessionState()
        _ = state.addObject(1)
        state.storeTracked(3, memory(1))
        state.markTracked(3, reverse: true)
        #expect(state.promptKind(3) == (.nonCond, true) && state.promptKind(4) == (.cond, false))
        state.setPending(.cond, frame: 3, object: 0, output(2))
        #expect(state.latestOutput(frame: 3, object: 0, kind: .cond) == output(2))  // pending first
        #expect(state.latestOutput(frame: 3, object: 0, kind: .nonCond) == output(1))  // then the bank
        state.storePrompted(.cond, frame: 3, memory(2))
        state.finishConsolidation()
        #expect(state.cond.frames == [3] && state.nonCond.isEmpty)
        #expect(state.trackingStarted && state.reusable(3) == memory(2))
        #expect(state.pendingFrames(.cond).isEmpty)
    }

    @Test func streamingForgetsWhatNoLaterFrameReads() {
        var state = SessionState()
        _ = state.addObject(1)
        for t in [0, 3, 6] {
            state.storePrompted(.cond, frame: t, memory(Float(t)))
        }
        state.finishConsolidation()
        for t in 7...30 {
            state.storeTracked(t, memory(Float(t)))
        }
        state.forgetUnreachable(frame: 30, recent: 6, ptrWindow: 15, maxCond: 2)
        // Conditioning: the 2 newest stay; frame 0 is older than the horizon (30 − 15) and goes.
        #expect(state.cond.frames == [3, 6])
        // Tracked frames: pointers of the last 15 frames, memories of the last 6, masks of the newest only.
        #expect(state.nonCond.frames == Array(15...30))
        #expect(state.nonCond.frames.filter { state.nonCond[$0]!.memBits != nil } == Array(24...30))
        #expect(state.nonCond.frames.filter { state.nonCond[$0]!.lowResMasks != nil } == [30])
        #expect(state.cond.orderedValues.allSatisfy { $0.lowResMasks == nil && $0.memBits != nil })
        #expect(state.promptKind(30) == (.nonCond, false) && state.promptKind(29) == (.cond, false))
    }

    @Test func byteCountCountsBankAndPending() {
        var state = SessionState()
        _ = state.addObject(1)
        state.storeTracked(0, memory(1))
        state.setPending(.nonCond, frame: 0, object: 0, output(2))
        // Bank: masks 4 + pointer 4 + score 1 floats, 4 bfloat16 values; pending: 9 floats.
        #expect(state.byteCount == (4 + 4 + 1) * 4 + 4 * 2 + (4 + 4 + 1) * 4)
        #expect(state.framesRetained == 1)
    }
}
