import EdgeTAMKit
import Foundation

// edgetam-replay: replays traces recorded by the Python runtime through the Swift session and checks that
// it makes the same stage calls with the same inputs and gives the same results. Exits 1 on any mismatch.

let usage = """
    usage: edgetam-replay [--tolerance RELATIVE] TRACE_DIR [TRACE_DIR ...]

    Each TRACE_DIR is a trace folder (trace.json + tensors.safetensors, recorded with
    `edgetam-export track --trace DIR` or tests/record_traces.py), or a folder of such folders.
    The default comparison is bit-exact; --tolerance accepts |a - b| <= RELATIVE * max(|a|, |b|).

    """

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
}

var tolerance = ReplayTolerance.exact
var folders: [URL] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "-h", "--help":
        print(usage, terminator: "")
        exit(0)
    case "--tolerance":
        guard let value = arguments.popFirst().flatMap(Float.init), value >= 0 else {
            fail("--tolerance needs a non-negative number, e.g. --tolerance 1e-6\n\n" + usage, code: 2)
        }
        tolerance = ReplayTolerance(relative: value)
    default:
        folders.append(URL(fileURLWithPath: argument))
    }
}
if folders.isEmpty {
    fail(usage, code: 2)
}

var failures = 0
var total = (traces: 0, stageCalls: 0, frames: 0)
var largest: [String: Float] = [:]
for folder in folders {
    let traces = TraceFolders.find(in: folder)
    if traces.isEmpty {
        print("\(folder.path): MISMATCH: no trace.json here or in its subfolders; record a trace first")
        failures += 1
    }
    for trace in traces {
        do {
            let summary = try TraceReplayer(folder: trace, tolerance: tolerance).replay()
            let differences = summary.largestDifference.sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let skipped = summary.skippedCalls > 0 ? ", \(summary.skippedCalls) calls not replayable" : ""
            print(
                "\(trace.lastPathComponent) (\(summary.scenario)): \(summary.programCalls) calls, "
                    + "\(summary.stageCalls) stage calls and \(summary.frames) frames compared\(skipped); "
                    + "largest difference: \(differences)")
            total.traces += 1
            total.stageCalls += summary.stageCalls
            total.frames += summary.frames
            largest.merge(summary.largestDifference) { max($0, $1) }
        } catch {
            print("\(trace.path): MISMATCH: \(error)")
            failures += 1
        }
    }
}
let overall = largest.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
print(
    "\(total.traces) traces equal: \(total.stageCalls) stage calls and \(total.frames) frames compared; "
        + "largest difference: \(overall.isEmpty ? "none" : overall)"
        + (failures > 0 ? "; \(failures) FAILED" : ""))
exit(failures > 0 ? 1 : 0)
