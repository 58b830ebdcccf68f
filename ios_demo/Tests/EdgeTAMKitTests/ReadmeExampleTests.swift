import Foundation
import Testing

@testable import EdgeTAMKit

/// The README's tracking example, run against a real export manifest through the stand-in runner.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRuns() throws {
        let exportFolder = try TestData.vector("manifest.json").deletingLastPathComponent()
        let manifest = try Manifest.load(from: exportFolder)
        let runner = VaryingStageRunner(config: manifest.model.config)
        let video = (0..<3).map { testFrame(seed: $0) }
        let tracker = try Tracker(manifest: manifest, format: "onnx", runner: runner)
        let session = try tracker.start(frames: video)
        _ = try session.addPrompt(frameIndex: 0, objectID: 1, points: [Point(x: 10, y: 5)], labels: [1])
        _ = try session.addPrompt(frameIndex: 0, objectID: 2, box: Box(x0: 3, y0: 2, x1: 12, y1: 9))
        let run = try session.propagation()
        var tracked = 0
        while let result = try run.next() {
            #expect(result.mask(of: 1)?.count == 12 * 16 && result.objectScoreLogits.count == 2)
            tracked += 1
        }
        #expect(tracked == 3)
        let stream = tracker.startStreaming()
        let first = try stream.push(testFrame())
        #expect(first.objIDs.isEmpty && first.maskLogits.shape == [0, 12, 16])
    }
}
