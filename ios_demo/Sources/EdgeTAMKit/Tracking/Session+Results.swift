/// Frame results at the frame's size.
extension Session {
    func result(_ frameIndex: Int, _ memory: FrameMemory?) -> FrameResult {
        guard let memory, let lowRes = memory.lowResMasks else {
            return FrameResult(
                frameIndex: frameIndex, objIDs: [], maskLogits: Tensor(zeros: [0, height, width]),
                objectScoreLogits: [])
        }
        let planes = Tensor(shape: [lowRes.shape[0], lowResSize, lowResSize], scalars: lowRes.scalars)
        return FrameResult(
            frameIndex: frameIndex, objIDs: state.objIDs, maskLogits: resizeBilinear(planes, height: height, width: width),
            objectScoreLogits: memory.objectScoreLogits.scalars)
    }

    /// Every object on a frame just prompted; objects with no output there get the no-object score.
    func promptFrameResult(_ frameIndex: Int, _ kind: SessionState.Kind) -> FrameResult {
        let n = state.objIDs.count
        var masks = Tensor(repeating: Session.noObjectScore, shape: [n, height, width])
        var scores = [Float](repeating: Session.noObjectScore, count: n)
        for i in 0..<n {
            guard let out = state.latestOutput(frame: frameIndex, object: i, kind: kind) else { continue }
            let plane = Tensor(shape: [lowResSize, lowResSize], scalars: out.lowResMasks.scalars)
            masks.setRow(i, resizeBilinear(plane, height: height, width: width).scalars[...])
            scores[i] = out.objectScoreLogits.scalars[0]
        }
        return FrameResult(frameIndex: frameIndex, objIDs: state.objIDs, maskLogits: masks, objectScoreLogits: scores)
    }
}
