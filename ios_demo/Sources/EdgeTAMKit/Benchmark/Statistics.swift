/// Latency statistics, defined exactly as the Python benchmark defines them (`benchmarks/timing.py`), so
/// figures from a phone and from Linux mean the same thing.
public enum LatencyStatistics {
    /// The middle value; for an even count, the mean of the two middle values (Python's `statistics.median`).
    /// Precondition: `values` is not empty.
    public static func median(_ values: [Double]) -> Double {
        percentile(values, 50)
    }

    /// The `q`-th percentile (0...100) with linear interpolation between the two closest ranks (numpy's default
    /// `np.percentile`): rank `q/100 · (n − 1)` of the sorted values. Precondition: `values` is not empty.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty, "a percentile of no values")
        precondition((0...100).contains(q), "percentile \(q) is outside 0...100")
        let sorted = values.sorted()
        let rank = q / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = rank - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }
}

/// Median, p90 and minimum of repeated runs, in milliseconds.
public struct LatencySummary: Sendable, Equatable {
    public var medianMs: Double
    public var p90Ms: Double
    public var minMs: Double
    public var runs: Int

    /// Summarizes run times given in seconds. Precondition: at least one run.
    public init(seconds: [Double]) {
        let ms = seconds.map { $0 * 1e3 }
        medianMs = LatencyStatistics.median(ms)
        p90Ms = LatencyStatistics.percentile(ms, 90)
        minMs = ms.min() ?? 0
        runs = ms.count
    }
}
