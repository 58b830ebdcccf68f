/// Frames, prompt frames and objects: the session's argument checks and the image-feature cache.
extension Session {
    func checkFrameSize(_ frame: PixelBuffer, _ frameIndex: Int) throws {
        if height != 0 && (frame.height, frame.width) != (height, width) {
            throw EdgeTAMError.input(
                "frame \(frameIndex) is \(frame.height)×\(frame.width) but the video is \(height)×\(width); "
                    + "all frames of a session must have one size")
        }
    }

    func frame(_ frameIndex: Int) throws -> PixelBuffer {
        if isStreaming {
            precondition(frameIndex == numPushed - 1, "a streaming session holds only its newest frame")
            return newestFrame!
        }
        let frame = try frames!.frame(at: frameIndex)
        try checkFrameSize(frame, frameIndex)
        return frame
    }

    func checkPromptFrame(_ frameIndex: Int) throws {
        if isStreaming {
            if numPushed == 0 || frameIndex != numPushed - 1 {
                throw EdgeTAMError.input(
                    "a streaming session can prompt only the frame just pushed (index \(numPushed - 1)); "
                        + "got frame index \(frameIndex)")
            }
        } else if let count = numFrames, !(0..<count).contains(frameIndex) {
            throw EdgeTAMError.input("frame index \(frameIndex) is outside the video (0..\(count - 1))")
        }
    }

    func objectIndex(_ id: Int) throws -> Int {
        if let known = state.objectIndex(id) {
            return known
        }
        if state.trackingStarted {
            throw EdgeTAMError.session(
                "unknown object id \(id): objects must all be prompted before tracking starts "
                    + "(known ids: \(state.objIDs)); start a new session to add objects")
        }
        return state.addObject(id)
    }

    /// The image encoder's outputs for a frame; the most recent frame's are cached (prompts on it and then
    /// tracking it reuse them), as the original caches them.
    func imageFeatures(_ frameIndex: Int) throws -> [String: Tensor] {
        if let features, features.frame == frameIndex {
            return features.outputs
        }
        let image = preprocess(try frame(frameIndex))
        let outputs = try runner.run(.imageEncoder, ["image": image])
        features = (frameIndex, outputs)
        return outputs
    }
}

/// Looking up a stage output by name, failing with an error that names the stage and tensor.
extension Dictionary where Key == String, Value == Tensor {
    func output(_ name: String, of stage: StageName) throws -> Tensor {
        guard let tensor = self[name] else {
            throw EdgeTAMError.contract(
                stage: stage, tensor: name, problem: "missing from the stage's outputs (got \(keys.sorted()))")
        }
        return tensor
    }
}
