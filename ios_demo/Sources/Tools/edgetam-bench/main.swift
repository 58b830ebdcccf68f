// edgetam-bench: the on-device benchmark from the command line (macOS: Core ML; anywhere: --stand-in).
import EdgeTAMKit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("edgetam-bench: \(message)\n".utf8))
    exit(code)
}

let arguments: BenchArguments
do {
    arguments = try BenchArguments.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)")
}

do {
    let folder = URL(fileURLWithPath: arguments.exportFolder)
    let manifest = try Manifest.load(from: folder)
    let say: (String) -> Void = { print($0) }
    if arguments.standIn {
        // The stand-in needs only contracts: the Core ML section when the export has one, else ONNX's.
        let format = manifest.formats["coreml"] != nil ? "coreml" : "onnx"
        let benchmark = try Benchmark(manifest: manifest, format: format, options: arguments.options, say: say)
        let runner = StandInRunner(section: try manifest.format(format), config: manifest.model.config)
        print("stand-in runner over the \(format) contracts of \(folder.path) (no model runs: timings mean nothing)")
        let report = try benchmark.run(runner.target, device: DeviceDescription.current(), export: folder.path)
        try report.write(to: URL(fileURLWithPath: arguments.out))
        print("wrote \(arguments.out)")
    } else {
        #if canImport(CoreML)
            let benchmark = try Benchmark(manifest: manifest, format: "coreml", options: arguments.options, say: say)
            let device = DeviceDescription.current(computeUnits: CoreMLDevices.available())
            for units in arguments.computeUnits {
                print("\(units.rawValue): \(units.meaning)")
                let runner = try CoreMLStageRunner(folder: folder, manifest: manifest, computeUnits: units)
                let report = try benchmark.run(runner.benchmarkTarget, device: device, export: folder.path)
                let path = arguments.outputPath(for: units)
                try report.write(to: URL(fileURLWithPath: path))
                print("wrote \(path)")
            }
        #else
            fail(
                "timing the Core ML stages needs macOS (Core ML does not exist on this system); here, "
                    + "`edgetam-export bench EXPORT_DIR` times the ONNX export, and --stand-in checks this tool",
                code: 1)
        #endif
    }
} catch {
    fail("\(error)", code: 1)
}
