import Foundation
import Testing

@testable import EdgeTAMKit

@Suite struct TraceReplayTests {
    private func traces() throws -> [URL] {
        TraceFolders.find(in: try TestData.folder("traces"))
    }

    /// Every recorded scenario replays with bit-exact stage inputs, results and stats.
    @Test func everyTraceReplaysBitExact() throws {
        let folders = try traces()
        let root = try TestData.folder("traces").path
        #expect(folders.count >= 7, "expected the seven recorded scenarios in \(root)")
        var scenarios = Set<String>()
        for folder in folders {
            let summary = try TraceReplayer(folder: folder).replay()
            scenarios.insert(summary.scenario)
            #expect(summary.stageCalls > 0 && summary.frames > 0, "\(summary.scenario)")
            for (kind, difference) in summary.largestDifference {
                #expect(difference == 0, "\(summary.scenario): \(kind) differs by \(difference)")
            }
        }
        #expect(scenarios.contains("stream"))
    }

    private func trace(_ scenario: String) throws -> Trace {
        let folder = try #require(try traces().first { $0.lastPathComponent == scenario }, "no \(scenario) trace")
        return try Trace(folder: folder)
    }

    @Test func aMovedPointIsCaughtAtItsStageCall() throws {
        let recorded = try trace("two_objects_points_and_box")
        var file = recorded.file
        let index = try #require(file.program.firstIndex { $0.name == "add_prompt" && $0.error == nil })
        guard case let .addPrompt(frame, obj, .array(points), labels, box, mask) = file.program[index].kind,
            case let .array(first) = points[0], case let .number(x) = first[0]
        else {
            Issue.record("the first prompt has no points")
            return
        }
        let moved = JSONValue.array([.array([.number(x + 1), first[1]])] + points.dropFirst())
        file.program[index].kind = .addPrompt(frameIdx: frame, objId: obj, points: moved, labels: labels, box: box, mask: mask)
        let replayer = TraceReplayer(trace: Trace(folder: recorded.folder, file: file, tensors: recorded.tensors))
        let error = try #require(throws: EdgeTAMError.self) { try replayer.replay() }
        guard case let .stageCallMismatch(_, stage, tensor, flatIndex, _, _) = error else {
            Issue.record("expected a stage-call mismatch, got \(error)")
            return
        }
        #expect(stage == "mask_decoder" && tensor == "point_coords" && flatIndex == 0)
    }

    @Test func differentStatsAreCaught() throws {
        let recorded = try trace("stream")
        var file = recorded.file
        let index = try #require(file.program.lastIndex { $0.name == "stats" })
        guard case var .stats(value) = file.program[index].kind else { return }
        value.stateBytes += 2
        file.program[index].kind = .stats(value)
        let replayer = TraceReplayer(trace: Trace(folder: recorded.folder, file: file, tensors: recorded.tensors))
        #expect(throws: EdgeTAMError.resultMismatch(
            call: index, what: "stats", expected: "\(value)", actual: "\(SessionStats(framesRetained: value.framesRetained, stateBytes: value.stateBytes - 2, objects: value.objects))"
        )) {
            try replayer.replay()
        }
    }

    @Test func aMissingErrorIsCaught() throws {
        let recorded = try trace("two_objects_points_and_box")
        var file = recorded.file
        let index = try #require(file.program.firstIndex { $0.error != nil })
        file.program[index].error = nil  // the recording says the call succeeded; Swift raises
        let replayer = TraceReplayer(trace: Trace(folder: recorded.folder, file: file, tensors: recorded.tensors))
        let error = try #require(throws: EdgeTAMError.self) { try replayer.replay() }
        #expect(error.description.contains("program call \(index)"))
    }

    @Test func unconsumedStageCallsAreCaught() throws {
        let recorded = try trace("vanish_and_return")
        var file = recorded.file
        file.program.removeLast()  // the last propagate's stage calls are never requested
        let replayer = TraceReplayer(trace: Trace(folder: recorded.folder, file: file, tensors: recorded.tensors))
        #expect(throws: EdgeTAMError.self) { try replayer.replay() }
    }

    @Test func aFolderWithoutATraceIsAnError() throws {
        let error = try #require(throws: EdgeTAMError.self) {
            try Trace(folder: URL(fileURLWithPath: "/nonexistent/trace"))
        }
        #expect(error.description.contains("trace.json"))
    }
}
