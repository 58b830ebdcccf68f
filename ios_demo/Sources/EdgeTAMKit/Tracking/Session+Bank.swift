/// Bank bookkeeping: consolidating prompts into memories, tracking a frame, and the no-object pointer.
extension Session {
    /// The pointer of an object with no output on a prompted frame: the original decodes an empty mask for
    /// it, which yields exactly the learned no-object pointer (computed once, then cached).
    func noObjectPointer(_ feats: [String: Tensor]) throws -> Tensor {
        if let noObjectPointer {
            return noObjectPointer
        }
        let visionFeats = try feats.output("vision_feats", of: .imageEncoder)
        let pointer = try decode(feats, imageEmbed: visionFeats.rows(0..<1), DecodeOptions(objectAbsent: true))
            .output("obj_ptr", of: .maskDecoder)
        noObjectPointer = pointer
        return pointer
    }

    /// Turns pending prompt outputs into bank entries, all objects batched, encoding their memories (the
    /// original's propagate_in_video_preflight): corrections first, then conditioning frames, each in frame
    /// order. Tracking starts once a conditioning frame exists.
    func consolidatePrompts() throws {
        for kind in [SessionState.Kind.nonCond, .cond] {
            for frame in state.pendingFrames(kind) {
                let memory = try consolidateFrame(frame, kind)
                state.storePrompted(kind, frame: frame, memory)
            }
        }
        state.finishConsolidation()
    }

    func consolidateFrame(_ frameIndex: Int, _ kind: SessionState.Kind) throws -> FrameMemory {
        let n = state.objIDs.count
        let c = config.hiddenDim
        let low = lowResSize
        let feats = try imageFeatures(frameIndex)
        var lowRes = Tensor(repeating: Session.noObjectScore, shape: [n, 1, low, low])
        var objPtr = Tensor(repeating: Session.noObjectScore, shape: [n, c])
        var scores = Tensor(repeating: 10, shape: [n, 1])  // the original's default for objects without output
        for i in 0..<n {
            guard let out = state.latestOutput(frame: frameIndex, object: i, kind: kind) else {
                objPtr.setRow(i, try noObjectPointer(feats).scalars[0..<c])
                continue
            }
            lowRes.setRow(i, out.lowResMasks.scalars[...])
            objPtr.setRow(i, out.objPtr.scalars[...])
            scores.setRow(i, out.objectScoreLogits.scalars[...])
        }
        let memory = try encodeMemory(feats, lowResMasks: lowRes, isPrompted: true)
        return FrameMemory(lowResMasks: lowRes, objPtr: objPtr, objectScoreLogits: scores, memBits: memory)
    }

    func trackOrReuse(_ frameIndex: Int, reverse: Bool) throws -> FrameMemory {
        let memory: FrameMemory
        if let reused = state.reusable(frameIndex) {
            memory = reused
        } else {
            memory = try track(frameIndex, reverse: reverse)
            state.storeTracked(frameIndex, memory)
        }
        state.markTracked(frameIndex, reverse: reverse)
        return memory
    }

    /// One tracked frame for all objects: memory attention, decoder, memory encoder.
    func track(_ frameIndex: Int, reverse: Bool) throws -> FrameMemory {
        let feats = try imageFeatures(frameIndex)
        let imageEmbed = try condition(frameIndex, feats, objects: 0..<state.objIDs.count, reverse: reverse)
        let out = try decode(
            feats, imageEmbed: imageEmbed, DecodeOptions(multimask: useMultimask(isInit: false, points: 0)))
        let output = try objectOutput(out)
        let memory = try encodeMemory(feats, lowResMasks: output.lowResMasks, isPrompted: false)
        return FrameMemory(
            lowResMasks: output.lowResMasks, objPtr: output.objPtr, objectScoreLogits: output.objectScoreLogits,
            memBits: memory)
    }
}
