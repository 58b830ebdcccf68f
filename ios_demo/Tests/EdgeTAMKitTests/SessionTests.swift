import Testing

@testable import EdgeTAMKit

@Suite struct SessionTests {
    private func tracker(condSlots: Int? = 2) -> (Tracker, VaryingStageRunner) {
        let runner = VaryingStageRunner(config: VaryingStageRunner.smallConfig)
        let caps = Capacities(condSlots: condSlots, pointerSlots: condSlots.map { $0 + 15 }, pointSlots: 16)
        return (Tracker(config: runner.config, capacities: caps, runner: runner), runner)
    }

    private func video(_ count: Int) -> [PixelBuffer] {
        (0..<count).map { testFrame(seed: $0) }
    }

    @Test func firstPromptEncodesTheFrameAndDecodesIt() throws {
        let (tracker, runner) = tracker()
        let session = try tracker.start(frames: video(4))
        let result = try session.addPrompt(frameIndex: 1, objectID: 7, points: [Point(x: 3, y: 4)], labels: [1])
        #expect(runner.calls == [.imageEncoder, .maskDecoder])
        #expect(result.frameIndex == 1 && result.objIDs == [7])
        #expect(result.maskLogits.shape == [1, 12, 16])
        // A second object on the same frame reuses the cached features.
        _ = try session.addPrompt(frameIndex: 1, objectID: 8, box: Box(x0: 1, y0: 1, x1: 9, y1: 9))
        #expect(runner.calls == [.imageEncoder, .maskDecoder, .maskDecoder])
    }

    @Test func propagationConsolidatesThenTracksEveryFrame() throws {
        let (tracker, runner) = tracker()
        let session = try tracker.start(frames: video(4))
        _ = try session.addPrompt(frameIndex: 0, objectID: 1, points: [Point(x: 3, y: 4)], labels: [1])
        let results = try session.propagate()
        #expect(results.map(\.frameIndex) == [0, 1, 2, 3])
        // prompt: encoder + decoder; consolidation: memory encoder; then per frame: encoder, attention,
        // decoder, memory encoder (frame 0 is reused, not tracked again).
        let perFrame: [StageName] = [.imageEncoder, .memoryAttention, .maskDecoder, .memoryEncoder]
        #expect(runner.calls == [.imageEncoder, .maskDecoder, .memoryEncoder] + perFrame + perFrame + perFrame)
    }

    @Test func propagationOrderFollowsPython() throws {
        let (tracker, _) = tracker()
        let session = try tracker.start(frames: video(8))
        _ = try session.addPrompt(frameIndex: 2, objectID: 1, points: [Point(x: 3, y: 4)], labels: [1])
        #expect(try session.propagation().frames == [2, 3, 4, 5, 6, 7])
        #expect(try session.propagation(from: 5, maxFrames: 2).frames == [5, 6, 7])
        #expect(try session.propagation(from: 5, maxFrames: 2, reverse: true).frames == [5, 4, 3])
        #expect(try session.propagation(from: 1, reverse: true).frames == [1, 0])
        #expect(try session.propagation(from: 0, reverse: true).frames == [])  // as range(0) in Python
        #expect(try session.propagation(from: 7, maxFrames: 3).frames == [7])
        #expect(throws: EdgeTAMError.self) { try session.propagation(from: 8) }
    }

    @Test func errorsHaveThePythonKinds() throws {
        let (tracker, _) = tracker()
        let session = try tracker.start(frames: video(3))
        let point = [Point(x: 3, y: 4)]
        func kind(_ call: () throws -> Any) -> String? {
            do {
                _ = try call()
                return nil
            } catch {
                return (error as? EdgeTAMError)?.pythonType
            }
        }
        #expect(kind { try session.propagate() } == "SessionError")  // nothing prompted
        #expect(kind { try session.addPrompt(frameIndex: 3, objectID: 1, points: point, labels: [1]) } == "InputError")
        #expect(
            kind {
                try session.addPrompt(
                    frameIndex: 0, objectID: 1, points: point, labels: [1],
                    mask: try BinaryMask(width: 16, height: 12, values: [Bool](repeating: true, count: 192)))
            } == "InputError")
        #expect(kind { try session.push(testFrame()) } == "SessionError")
        _ = try session.addPrompt(frameIndex: 0, objectID: 1, points: point, labels: [1])
        #expect(session.objIDs == [1])
        _ = try session.propagate()
        #expect(kind { try session.addPrompt(frameIndex: 1, objectID: 2, points: point, labels: [1]) } == "SessionError")
        // A rejected prompt adds no object.
        #expect(session.objIDs == [1])
        #expect(kind { try tracker.start(frames: [PixelBuffer]()) } == "InputError")
    }

    @Test func framesOfAnotherSizeAreRejected() throws {
        let (tracker, _) = tracker()
        let stream = tracker.startStreaming()
        _ = try stream.push(testFrame())
        #expect(throws: EdgeTAMError.self) { try stream.push(testFrame(height: 13)) }
        #expect(throws: EdgeTAMError.self) { try stream.propagate() }
        // Only the frame just pushed can be prompted.
        #expect(throws: EdgeTAMError.self) {
            try stream.addPrompt(frameIndex: 1, objectID: 1, points: [Point(x: 1, y: 1)], labels: [1])
        }
    }

    @Test func correctionOnATrackedFrameFeedsThePreviousMaskBack() throws {
        let (tracker, runner) = tracker()
        let session = try tracker.start(frames: video(4))
        _ = try session.addPrompt(frameIndex: 0, objectID: 1, points: [Point(x: 3, y: 4)], labels: [1])
        _ = try session.propagate()
        let before = runner.calls.count
        _ = try session.addPrompt(frameIndex: 2, objectID: 1, points: [Point(x: 5, y: 5)], labels: [0])
        // A correction conditions on memory (attention) and decodes with the previous mask as input.
        #expect(Array(runner.calls[before...]) == [.imageEncoder, .memoryAttention, .maskDecoder])
    }

    @Test func maskPromptRunsTheMaskPromptStage() throws {
        let (tracker, runner) = tracker()
        let session = try tracker.start(frames: video(2))
        var values = [Bool](repeating: false, count: 12 * 16)
        values[5 * 16 + 5] = true
        let result = try session.addPrompt(frameIndex: 0, objectID: 3, mask: try BinaryMask(width: 16, height: 12, values: values))
        #expect(runner.calls == [.imageEncoder, .maskPrompt, .maskDecoder])
        #expect(result.objectScoreLogits == [10])
        let empty = try BinaryMask(width: 16, height: 12, values: [Bool](repeating: false, count: 192))
        #expect(try session.addPrompt(frameIndex: 0, objectID: 3, mask: empty).objectScoreLogits == [-10])
    }
}
