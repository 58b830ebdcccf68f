import Testing

@testable import EdgeTAMKit

@Suite struct BenchmarkArgumentsTests {
    @Test func parsesEveryOption() throws {
        let args = try BenchArguments.parse([
            "build/edgetam", "--compute-units", "cpu,cpu-ne", "--compute-units", "all", "--runs", "20", "--warmup", "0",
            "--frames", "5", "--objects", "1,3", "--out", "out/bench.json",
        ])
        #expect(args.exportFolder == "build/edgetam" && args.out == "out/bench.json" && !args.standIn)
        #expect(args.computeUnits == [.cpuOnly, .cpuAndNeuralEngine, .all])
        #expect(args.options == BenchmarkOptions(warmup: 0, runs: 20, trackedFrames: 5, objects: [1, 3]))
        #expect(args.outputPath(for: .cpuAndNeuralEngine) == "out/bench-cpu-ne.json")
    }

    @Test func defaultsToAllFourSettingsAndOneFileForOne() throws {
        let args = try BenchArguments.parse(["x", "--out", "r.json"])
        #expect(args.computeUnits == ComputeUnits.allCases && args.options == BenchmarkOptions())
        let one = try BenchArguments.parse(["x", "--out", "dir.v2/r", "--compute-units", "cpu-gpu"])
        #expect(one.outputPath(for: .cpuAndGPU) == "dir.v2/r")
        let two = try BenchArguments.parse(["x", "--out", "dir.v2/r", "--compute-units", "cpu-gpu,cpu"])
        #expect(two.outputPath(for: .cpuAndGPU) == "dir.v2/r-cpu-gpu")
    }

    @Test(arguments: [
        (["x"], "--out FILE.json is required"),
        (["--out", "r.json"], "no export folder"),
        (["x", "--out", "r", "--compute-units", "gpu"], "unknown setting gpu; choose from cpu, cpu-gpu, cpu-ne, all"),
        (["x", "--out", "r", "--runs", "0"], "--runs takes a whole number ≥ 1, got 0"),
        (["x", "--out", "r", "--objects", "1,,x"], "--objects takes a list like 1,2,4"),
        (["x", "--out"], "--out needs a value"),
        (["x", "y", "--out", "r"], "one export folder, got x and y"),
        (["x", "--out", "r", "--fast"], "unknown option --fast"),
    ])
    func badArgumentsAreNamed(arguments: [String], message: String) {
        let error = #expect(throws: EdgeTAMError.self) { try BenchArguments.parse(arguments) }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }
}
