import Foundation
import Testing

@testable import EdgeTAMKit

/// A benchmark run through the stand-in runner over a real export's contracts (the test vectors' manifest):
/// the report has every field of the schema, and a tracked frame calls the stages as the driver does.
@Suite struct BenchmarkRunTests {
    static let options = BenchmarkOptions(warmup: 1, runs: 3, trackedFrames: 2, objects: [1, 2, 4])

    /// The schema's required fields (benchmarks/schema.py) that this package writes, by block.
    static let required: [String: [String]] = [
        "": ["format_version", "created", "tool", "device", "setting", "stages", "frames"],
        "tool": ["name"],
        "device": ["kind", "model", "chip", "os", "cores", "compute_units"],
        "setting": [
            "backend", "compute_units", "precision", "image_size", "warmup", "runs", "tracked_frames", "objects",
            "memory_scope",
        ],
        "stages": ["stage", "batch", "median_ms", "p90_ms", "runs", "load_ms", "peak_rss_mb"],
        "frames": ["objects", "first_frame_ms", "median_ms", "p90_ms", "runs"],
    ]

    func run(_ manifest: Manifest, options: BenchmarkOptions = options) throws -> (BenchmarkReport, StandInRunner) {
        let section = try manifest.format("onnx")
        let runner = StandInRunner(section: section, config: manifest.model.config)
        let benchmark = try Benchmark(manifest: manifest, format: "onnx", options: options)
        return (try benchmark.run(runner.target, device: DeviceDescription.current(), export: "vectors"), runner)
    }

    @Test func reportJSONHasEverySchemaField() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let (report, runner) = try run(manifest)
        let json = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        for (block, keys) in Self.required {
            let objects: [[String: Any]]
            switch json[block] {
            case nil: objects = [json]
            case let list as [[String: Any]]: objects = list
            case let object as [String: Any]: objects = [object]
            default: objects = []
            }
            #expect(!objects.isEmpty, "\(block) is missing")
            for object in objects {
                for key in keys { #expect(object[key] != nil, "\(block).\(key) missing") }
            }
        }
        let setting = try #require(json["setting"] as? [String: Any])
        #expect(setting["compute_units"] is NSNull)  // written as null, never left out
        #expect(json["format_version"] as? Int == 2)
        // it decodes back to the same report
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: report.jsonData()) == report)

        #expect(report.stages.map(\.stage) == StageName.allCases.map(\.rawValue))
        #expect(runner.loaded == Set(StageName.allCases))  // every stage loaded (and timed) once
        for row in report.stages {
            #expect(row.runs == 3 && row.p90Ms >= row.medianMs && row.medianMs >= row.minMs && row.loadMs >= 0)
            #expect(row.peakRssMb > 0)
            #expect(row.sizes == ["B": 1, "K": 1, "N": 16, "P": 1])  // dynamic capacities: a steady frame's
        }
        #expect(report.frames.map(\.objects) == [1, 2, 4])
        #expect(report.device.cores >= 1 && report.setting.imageSize == manifest.model.config.imageSize)
    }

    @Test func aTrackedFrameCallsEachStageOnceWithAllObjects() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let (report, runner) = try run(manifest)
        let stageCalls = StageName.allCases.count * (1 + 3)  // each stage alone: 1 warm-up + 3 timed calls
        var expected: [String] = []
        for n in [1, 2, 4] {
            // the prompted frame: encoded once, each object's click decoded, then all memories written at once
            let decoded = Array(repeating: "mask_decoder×1", count: n)
            let prompted = ["image_encoder×1"] + decoded + ["memory_encoder×\(n)"]
            let tracked = ["image_encoder×1", "memory_attention×\(n)", "mask_decoder×\(n)", "memory_encoder×\(n)"]
            expected += prompted + tracked  // the warm-up session: warm-up + 1 frames
            expected += prompted + tracked + tracked  // the timed session: 1 + 2 tracked frames
            let row = try #require(report.frames.first { $0.objects == n })
            #expect(
                row.calls == [
                    "image_encoder": [1], "memory_attention": [n], "mask_decoder": [n], "memory_encoder": [n],
                ])
            #expect(row.callsSameEveryFrame && row.runs == 2 && row.firstFrameMs > 0 && row.p90Ms >= row.medianMs)
        }
        #expect(runner.calls.dropFirst(stageCalls).map { "\($0.stage.rawValue)×\($0.batch)" } == expected)
    }

    @Test func theClipHasOneClickPerObjectOnItsDiscs() throws {
        let clip = try SyntheticClip.frames(count: 3, height: 36, width: 64)
        #expect(clip.count == 3 && clip.allSatisfy { $0.width == 64 && $0.height == 36 })
        #expect(clip[0] != clip[2])  // the discs move
        let clicks = SyntheticClip.clicks(objects: 6, count: 3, height: 36, width: 64)
        #expect(clicks.count == 6)
        let red = clip[0].rgbBytes
        let first = (Int(clicks[0].y) * 64 + Int(clicks[0].x)) * 3
        #expect(Array(red[first..<(first + 3)]) == [230, 40, 40])  // the first click lands on the first disc
    }

    @Test func fixedCapacitiesAndBatchRangeAreEnforced() throws {
        var manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        manifest.formats["onnx"]?.capacities = Capacities(batch: 1...2, condSlots: 2, pointerSlots: 5, pointSlots: 3)
        let error = #expect(throws: EdgeTAMError.self) {
            _ = try run(manifest, options: BenchmarkOptions(warmup: 0, runs: 1, trackedFrames: 1, objects: [1, 4]))
        }
        #expect(error?.description.contains("holds 4 objects; this export takes 1...2") == true)
        let (report, _) = try run(
            manifest, options: BenchmarkOptions(warmup: 0, runs: 1, trackedFrames: 1, objects: [2]))
        #expect(report.stages[1].sizes == ["B": 1, "K": 2, "N": 5, "P": 3])
    }

    @Test func badOptionsAreRefused() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        #expect(
            throws: EdgeTAMError.input("object counts must be between 1 and 6 (the clip has that many clicks), got [0]")
        ) {
            _ = try Benchmark(manifest: manifest, format: "onnx", options: BenchmarkOptions(objects: [0]))
        }
        #expect(throws: EdgeTAMError.self) { _ = try Benchmark(manifest: manifest, format: "tflite") }
    }

    @Test func reportIsWrittenAtomically() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let (report, _) = try run(
            manifest, options: BenchmarkOptions(warmup: 0, runs: 1, trackedFrames: 1, objects: [1]))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bench.json")
        try report.write(to: file)
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: Data(contentsOf: file)) == report)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["bench.json"])
        #expect(throws: EdgeTAMError.self) { try report.write(to: folder.appendingPathComponent("no/such/dir.json")) }
    }
}
