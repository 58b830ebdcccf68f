import EdgeTAMKit
import SwiftUI

/// Runs EdgeTAMKit's benchmark on the bundled export for one compute-unit setting, shows the figures and
/// shares the report (the JSON `edgetam-export bench-render` draws beside a Linux or Mac report).
struct BenchmarkView: View {
    let export: URL
    @State private var units = ComputeUnits.cpuAndNeuralEngine
    @State private var runs = 10
    @State private var log: [String] = []
    @State private var report: BenchmarkReport?
    @State private var reportFile: URL?
    @State private var running = false

    var body: some View {
        NavigationStack {
            Form {
                Section("Setting") {
                    Picker("Compute units", selection: $units) {
                        ForEach(ComputeUnits.allCases, id: \.self) { Text($0.flag).tag($0) }
                    }
                    Text(units.meaning).font(.footnote).foregroundStyle(.secondary)
                    Stepper("Runs per stage: \(runs)", value: $runs, in: 3...100)
                    Button(running ? "Running…" : "Run benchmark", systemImage: "speedometer") { start() }
                        .disabled(running)
                }
                if let report {
                    Section("Per stage (one object): median / p90 ms, load ms") {
                        ForEach(report.stages, id: \.stage) { row in
                            LabeledContent(row.stage) {
                                Text(String(format: "%.1f / %.1f, %.0f", row.medianMs, row.p90Ms, row.loadMs))
                                    .monospacedDigit()
                            }
                        }
                    }
                    Section("Tracked frame: median / p90 ms (first frame)") {
                        ForEach(report.frames, id: \.objects) { row in
                            LabeledContent("\(row.objects) object\(row.objects == 1 ? "" : "s")") {
                                Text(String(format: "%.1f / %.1f (%.1f)", row.medianMs, row.p90Ms, row.firstFrameMs))
                                    .monospacedDigit()
                            }
                        }
                    }
                    if let reportFile {
                        ShareLink(item: reportFile) { Label("Share bench.json", systemImage: "square.and.arrow.up") }
                    }
                }
                if !log.isEmpty {
                    Section("Log") {
                        ForEach(Array(log.enumerated()), id: \.offset) { _, line in
                            Text(line).font(.caption.monospaced())
                        }
                    }
                }
            }
            .navigationTitle("Benchmark")
        }
    }

    private func start() {
        running = true
        (log, report, reportFile) = (["\(units.rawValue): loading and compiling the stages…"], nil, nil)
        let (export, units, options) = (export, units, BenchmarkOptions(runs: runs))
        let say: (String) -> Void = { line in DispatchQueue.main.async { log.append(line) } }
        DispatchQueue.global(qos: .userInitiated).async {
            let outcome = Result { () throws -> (BenchmarkReport, URL) in
                let manifest = try Manifest.load(from: export)
                let benchmark = try Benchmark(manifest: manifest, format: "coreml", options: options, say: say)
                let runner = try CoreMLStageRunner(folder: export, manifest: manifest, computeUnits: units)
                let device = DeviceDescription.current(computeUnits: CoreMLDevices.available())
                let report = try benchmark.run(runner.benchmarkTarget, device: device, export: "app bundle")
                let file = FileManager.default.temporaryDirectory
                    .appendingPathComponent("bench-\(device.model)-\(units.flag).json")
                try report.write(to: file)
                return (report, file)
            }
            DispatchQueue.main.async {
                running = false
                switch outcome {
                case .success((let report, let file)): (self.report, reportFile) = (report, file)
                case .failure(let error): log.append("failed: \(error)")
                }
            }
        }
    }
}
