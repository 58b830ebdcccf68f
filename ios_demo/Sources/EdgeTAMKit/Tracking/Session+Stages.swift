/// The stage calls: mask decoder, mask prompt, memory attention and memory encoder, with their inputs
/// assembled exactly as the Python driver assembles them.
extension Session {
    /// The decoder's switches and optional inputs for one call.
    struct DecodeOptions {
        var points: ModelPoints?
        var maskInput: Tensor?
        var multimask = false
        var noMemory = false
        var objectAbsent = false
    }

    func decode(_ feats: [String: Tensor], imageEmbed: Tensor, _ options: DecodeOptions) throws -> [String: Tensor] {
        let b = imageEmbed.shape[0]
        let count = options.points?.count ?? 0
        let slots = nonZero(capacities.pointSlots) ?? max(count, 1)
        if count > slots {
            throw EdgeTAMError.input("this export takes at most \(slots) points (box corners count as two); got \(count)")
        }
        var coords = Tensor(zeros: [b, slots, 2])
        var labels = Tensor(repeating: -1, shape: [b, slots])
        if let points = options.points {
            for row in 0..<b {
                coords.scalars.replaceSubrange((row * slots * 2)..<(row * slots * 2 + 2 * count), with: points.coords)
                labels.scalars.replaceSubrange((row * slots)..<(row * slots + count), with: points.labels)
            }
        }
        let low = lowResSize
        let flag = { (on: Bool) in Tensor(repeating: on ? 1 : 0, shape: [b, 1]) }
        return try runner.run(
            .maskDecoder,
            [
                "image_embed": imageEmbed,
                "high_res_0": try feats.output("high_res_0", of: .imageEncoder),
                "high_res_1": try feats.output("high_res_1", of: .imageEncoder),
                "point_coords": coords,
                "point_labels": labels,
                "mask_input": options.maskInput ?? Tensor(zeros: [b, 1, low, low]),
                "use_mask_input": flag(options.maskInput != nil),
                "multimask": flag(options.multimask),
                "no_memory": flag(options.noMemory),
                "object_absent": flag(options.objectAbsent),
            ])
    }

    func useMultimask(isInit: Bool, points: Int) -> Bool {
        config.multimaskOutputInSam && (isInit || config.multimaskOutputForTracking)
            && config.multimaskMinPtNum <= points && points <= config.multimaskMaxPtNum
    }

    func decodePoints(
        _ frameIndex: Int, _ object: Int, _ feats: [String: Tensor], _ points: ModelPoints, _ kind: SessionState.Kind,
        reverse: Bool
    ) throws -> ObjectOutput {
        let isInit = kind == .cond
        var maskInput: Tensor?
        if var previous = state.latestOutput(frame: frameIndex, object: object, kind: kind)?.lowResMasks {
            let clamp = Session.maskLogitClamp
            for i in previous.scalars.indices {
                previous.scalars[i] = min(max(previous.scalars[i], -clamp), clamp)
            }
            maskInput = previous
        }
        let imageEmbed =
            isInit
            ? try feats.output("vision_feats", of: .imageEncoder)
            : try condition(frameIndex, feats, objects: object..<(object + 1), reverse: reverse)
        let out = try decode(
            feats, imageEmbed: imageEmbed,
            DecodeOptions(
                points: points, maskInput: maskInput, multimask: useMultimask(isInit: isInit, points: points.count),
                noMemory: isInit))
        return try objectOutput(out)
    }

    func objectOutput(_ out: [String: Tensor]) throws -> ObjectOutput {
        ObjectOutput(
            lowResMasks: try out.output("low_res_masks", of: .maskDecoder),
            objPtr: try out.output("obj_ptr", of: .maskDecoder),
            objectScoreLogits: try out.output("object_score_logits", of: .maskDecoder))
    }

    /// A mask prompt is taken as the output itself (logits ±10); the decoder only makes its pointer.
    func decodeMaskPrompt(_ feats: [String: Tensor], _ mask: Tensor) throws -> ObjectOutput {
        let s = config.imageSize
        var binary = mask
        if binary.shape != [s, s] {
            let resized = resizeBilinearAntialias(binary, height: s, width: s)
            binary = Tensor(shape: [s, s], scalars: resized.scalars.map { $0 >= 0.5 ? 1 : 0 })
        }
        let present = binary.scalars.contains { $0 != 0 }
        let highRes = Tensor(
            shape: [s, s], scalars: binary.scalars.map { $0 * Session.maskPromptScale + Session.maskPromptBias })
        let low = lowResSize
        let lowRes = resizeBilinearAntialias(highRes, height: low, width: low)
        let maskInput = try runner.run(.maskPrompt, ["mask": Tensor(shape: [1, 1, s, s], scalars: binary.scalars)])
            .output("mask_input", of: .maskPrompt)
        let out = try decode(
            feats, imageEmbed: try feats.output("vision_feats", of: .imageEncoder),
            DecodeOptions(maskInput: maskInput, objectAbsent: !present))
        let score: Float = present ? Session.maskPromptScale + Session.maskPromptBias : Session.maskPromptBias
        return ObjectOutput(
            lowResMasks: Tensor(shape: [1, 1, low, low], scalars: lowRes.scalars),
            objPtr: try out.output("obj_ptr", of: .maskDecoder),
            objectScoreLogits: Tensor(shape: [1, 1], scalars: [score]))
    }

    /// Memory attention for `objects` on a frame, from the slots the original would read.
    func condition(_ frameIndex: Int, _ feats: [String: Tensor], objects: Range<Int>, reverse: Bool) throws -> Tensor {
        let bank = state
        let selection = try selectMemories(
            frameIndex: frameIndex, condFrames: bank.cond.frames, nonCondFrames: Set(bank.nonCond.frames),
            numMaskmem: config.numMaskmem, maxObjPtrs: config.maxObjPtrsInEncoder, maxCond: capacities.condSlots,
            numFrames: numFrames, reverse: reverse)
        guard let anyMemory = bank.cond.orderedValues.first?.memBits else {
            throw EdgeTAMError.session("no conditioning memory to attend to; add a prompt first")
        }
        let b = objects.count
        let (tokens, dim) = (anyMemory.shape[1], anyMemory.shape[2])
        let memorySize = tokens * dim

        let k = nonZero(capacities.condSlots) ?? selection.cond.count
        var condMem = Tensor(zeros: [b, k, tokens, dim])
        var condValid = Tensor(zeros: [b, k])
        for (slot, t) in selection.cond.enumerated() {
            let memory = try storedMemory(bank.cond[t], frame: t).rows(objects).floats
            place(memory, rowSize: memorySize, into: &condMem, slot: slot, slots: k, valid: &condValid)
        }

        let r = config.numMaskmem - 1
        var recentMem = Tensor(zeros: [b, r, tokens, dim])
        var recentValid = Tensor(zeros: [b, r])
        for (slot, entry) in selection.recent.enumerated() {
            guard let entry else { continue }
            let memory = try storedMemory(bank.memory(entry), frame: entry.frame).rows(objects).floats
            place(memory, rowSize: memorySize, into: &recentMem, slot: slot, slots: r, valid: &recentValid)
        }

        let n = nonZero(capacities.pointerSlots) ?? max(selection.ptrs.count, 1)
        if selection.ptrs.count > n {
            throw EdgeTAMError.session("this export holds \(n) object pointers but \(selection.ptrs.count) are needed")
        }
        let c = config.hiddenDim
        var objPtrs = Tensor(zeros: [b, n, c])
        var ptrValid = Tensor(zeros: [b, n])
        for (slot, entry) in selection.ptrs.enumerated() {
            guard let memory = bank.memory(entry) else {
                throw EdgeTAMError.session("frame \(entry.frame) has no stored pointer")
            }
            place(memory.objPtr.rows(objects), rowSize: c, into: &objPtrs, slot: slot, slots: n, valid: &ptrValid)
        }

        return try runner.run(
            .memoryAttention,
            [
                "vision_feats": try feats.output("vision_feats", of: .imageEncoder),
                "cond_mem": condMem, "cond_valid": condValid,
                "recent_mem": recentMem, "recent_valid": recentValid,
                "obj_ptrs": objPtrs, "ptr_valid": ptrValid,
            ]
        ).output("pix_feat_with_mem", of: .memoryAttention)
    }

    func encodeMemory(_ feats: [String: Tensor], lowResMasks: Tensor, isPrompted: Bool) throws -> BFloat16Tensor {
        let b = lowResMasks.shape[0]
        let out = try runner.run(
            .memoryEncoder,
            [
                "vision_feats": try feats.output("vision_feats", of: .imageEncoder),
                "low_res_masks": lowResMasks,
                "is_prompted": Tensor(repeating: isPrompted ? 1 : 0, shape: [b, 1]),
            ])
        return BFloat16Tensor(try out.output("mem_feats", of: .memoryEncoder))
    }
}

/// A capacity of 0 counts as none, as the Python driver's `capacity or need` does.
private func nonZero(_ value: Int?) -> Int? {
    value.flatMap { $0 == 0 ? nil : $0 }
}

private func storedMemory(_ memory: FrameMemory?, frame: Int) throws -> BFloat16Tensor {
    guard let bits = memory?.memBits else {
        throw EdgeTAMError.session("frame \(frame)'s memory is not stored (it was dropped or never encoded)")
    }
    return bits
}

/// Writes `source` (`[b, rowSize]` values) into slot `slot` of `target` (`[b, slots, rowSize]`) and marks
/// the slot valid in `valid` (`[b, slots]`).
private func place(_ source: Tensor, rowSize: Int, into target: inout Tensor, slot: Int, slots: Int, valid: inout Tensor) {
    for row in 0..<source.shape[0] {
        let from = row * rowSize
        let to = (row * slots + slot) * rowSize
        target.scalars.replaceSubrange(to..<(to + rowSize), with: source.scalars[from..<(from + rowSize)])
        valid.scalars[row * slots + slot] = 1
    }
}
