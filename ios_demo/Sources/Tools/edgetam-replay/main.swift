import EdgeTAMKit
import Foundation

// Replays Python-recorded traces through the Swift session (filled in with the Trace module).
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.isEmpty {
    FileHandle.standardError.write(Data("usage: edgetam-replay TRACE_DIR [TRACE_DIR ...]\n".utf8))
    exit(2)
}
FileHandle.standardError.write(Data("edgetam-replay: not implemented yet\n".utf8))
exit(2)
