import Testing

@testable import EdgeTAMKit

@Suite struct StreamTests {
    /// 10,000 frames through a stand-in runner: after the warm-up (the pointer window), the state a
    /// streaming session holds is constant, byte for byte.
    @Test func tenThousandFramesKeepConstantState() throws {
        let runner = VaryingStageRunner(config: VaryingStageRunner.smallConfig)
        let tracker = Tracker(
            config: runner.config, capacities: Capacities(condSlots: 2, pointerSlots: 17, pointSlots: 16), runner: runner)
        let stream = tracker.startStreaming()
        // Frames of the model's input size: no resize, so the 10,000 frames stay quick in a debug build.
        let frames = (0..<8).map { testFrame(height: 32, width: 32, seed: $0) }
        _ = try stream.push(frames[0])
        _ = try stream.addPrompt(frameIndex: 0, objectID: 1, points: [Point(x: 4, y: 5)], labels: [1])
        _ = try stream.addPrompt(frameIndex: 0, objectID: 2, box: Box(x0: 2, y0: 2, x1: 10, y1: 8))
        let warmUp = 2 * runner.config.maxObjPtrsInEncoder
        var reference: SessionStats?
        var present = Set<Bool>()
        for t in 1..<10_000 {
            let result = try stream.push(frames[t % frames.count])
            #expect(result.frameIndex == t && result.objIDs == [1, 2])
            present.insert(result.objectScoreLogits[0] > 0)
            if t == 5 {
                _ = try stream.addPrompt(frameIndex: 5, objectID: 1, points: [Point(x: 6, y: 6)], labels: [1])
            }
            guard t >= warmUp else { continue }
            let stats = stream.stats()
            if let reference {
                if stats != reference {
                    Issue.record("frame \(t): \(stats), after warm-up \(reference)")
                    return
                }
            } else {
                reference = stats
            }
        }
        let stats = try #require(reference)
        // The prompted frame, the last max_obj_ptrs − 1 frames' pointers and the newest frame.
        #expect(stats.framesRetained == 1 + runner.config.maxObjPtrsInEncoder - 1 + 1)
        #expect(stats.objects == 2)
        #expect(present == [true, false])  // the stand-in made objects vanish and return
    }
}
