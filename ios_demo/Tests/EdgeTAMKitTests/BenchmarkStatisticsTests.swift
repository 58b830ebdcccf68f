import Testing

@testable import EdgeTAMKit

/// The statistics match the Python benchmark's (`statistics.median`, `np.percentile` with linear interpolation).
@Suite struct BenchmarkStatisticsTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(LatencyStatistics.median([5, 1, 3]) == 3)
        #expect(LatencyStatistics.median([4, 1, 3, 2]) == 2.5)  // mean of the middle two
        #expect(LatencyStatistics.median([7]) == 7)
    }

    @Test func p90InterpolatesLinearlyBetweenRanks() {
        // numpy: np.percentile([1, 2, 3, 4, 5], 90) == 4.6; of 1...10: 9.1; of [10, 20]: 19.0
        #expect(abs(LatencyStatistics.percentile([5, 1, 3, 2, 4], 90) - 4.6) < 1e-12)
        #expect(abs(LatencyStatistics.percentile((1...10).map(Double.init), 90) - 9.1) < 1e-12)
        #expect(abs(LatencyStatistics.percentile([20, 10], 90) - 19) < 1e-12)
        #expect(LatencyStatistics.percentile([3, 1, 2], 0) == 1)
        #expect(LatencyStatistics.percentile([3, 1, 2], 100) == 3)
    }

    @Test func summaryIsInMilliseconds() {
        let summary = LatencySummary(seconds: [0.005, 0.001, 0.003, 0.002, 0.004])
        #expect(abs(summary.medianMs - 3) < 1e-9)
        #expect(abs(summary.p90Ms - 4.6) < 1e-9)
        #expect(abs(summary.minMs - 1) < 1e-9)
        #expect(summary.runs == 5)
    }

    @Test func peakMemoryIsReadFromProcStatus() {
        let status = "Name:\tswift\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 1000 kB\n"
        #expect(ResidentMemory.vmHWM(inProcStatus: status) == 20)
        #expect(ResidentMemory.vmHWM(inProcStatus: "Name: x\n") == nil)
        let peak = ResidentMemory.peakMB()
        #expect(peak != nil && peak! > 1)  // this test process holds more than a megabyte
    }

    @Test func computeUnitsMirrorCoreMLAndThePythonNames() {
        #expect(ComputeUnits.allCases.map(\.rawValue) == ["CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"])
        for units in ComputeUnits.allCases {
            #expect(ComputeUnits(flag: units.flag) == units)
        }
        #expect(ComputeUnits(flag: "gpu") == nil)
    }
}
