import Foundation

/// A benchmark report in the schema every device shares (`benchmarks/schema.py`, format version 2): what the
/// Python `edgetam-export bench` writes on Linux, and what this package writes on a Mac or an iPhone.
/// `edgetam-export bench-render` draws any of them side by side. Only the fields both kinds of run measure
/// are here; the Python run's extras (FLOPs, roofline, baselines) are optional in the schema.
public struct BenchmarkReport: Sendable, Equatable, Codable {
    /// The schema version this type writes.
    public static let formatVersion = 2

    public var formatVersion: Int = BenchmarkReport.formatVersion
    /// When the run ended, ISO 8601 UTC.
    public var created: String
    public var tool: Tool
    public var device: Device
    public var setting: Setting
    /// One row per stage timed alone.
    public var stages: [StageRow]
    /// One row per object count.
    public var frames: [FrameRow]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case created, tool, device, setting, stages, frames
    }

    /// What measured.
    public struct Tool: Sendable, Equatable, Codable {
        public var name: String
        public var version: String
    }

    /// What it ran on.
    public struct Device: Sendable, Equatable, Codable {
        /// "iphone", "ipad", "mac", "linux", ...
        public var kind: String
        /// Hardware model identifier ("iPhone16,2", "Mac14,3").
        public var model: String
        /// Processor ("Apple M2", a CPU brand string).
        public var chip: String
        public var os: String
        public var cores: Int
        public var memoryGB: Double?
        /// What the device offers: "CPU", "GPU", "Neural Engine".
        public var computeUnits: [String]
        /// The Swift compiler that built the benchmark.
        public var swift: String?

        enum CodingKeys: String, CodingKey {
            case kind, model, chip, os, cores
            case memoryGB = "memory_gb"
            case computeUnits = "compute_units"
            case swift
        }
    }

    /// What was measured, and how.
    public struct Setting: Sendable, Equatable, Codable {
        /// "coreml", or "stand-in" for the test runner (not a measurement of any model).
        public var backend: String
        /// The Core ML setting; nil for a runner that has none. Always written (null when nil).
        public var computeUnits: ComputeUnits?
        public var precision: String
        public var imageSize: Int
        public var warmup: Int
        public var runs: Int
        public var trackedFrames: Int
        public var objects: [Int]
        /// What `peak_rss_mb` covers: this package runs everything in one process.
        public var memoryScope: String = "benchmark process"
        /// The export folder measured.
        public var export: String?

        enum CodingKeys: String, CodingKey {
            case backend
            case computeUnits = "compute_units"
            case precision
            case imageSize = "image_size"
            case warmup, runs
            case trackedFrames = "tracked_frames"
            case objects
            case memoryScope = "memory_scope"
            case export
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(backend, forKey: .backend)
            try c.encode(computeUnits, forKey: .computeUnits)  // null, not absent: the schema requires the key
            try c.encode(precision, forKey: .precision)
            try c.encode(imageSize, forKey: .imageSize)
            try c.encode(warmup, forKey: .warmup)
            try c.encode(runs, forKey: .runs)
            try c.encode(trackedFrames, forKey: .trackedFrames)
            try c.encode(objects, forKey: .objects)
            try c.encode(memoryScope, forKey: .memoryScope)
            try c.encodeIfPresent(export, forKey: .export)
        }
    }

    /// One stage called alone with one object, after warm-up.
    public struct StageRow: Sendable, Equatable, Codable {
        public var stage: String
        public var batch: Int
        public var medianMs: Double
        public var p90Ms: Double
        public var minMs: Double
        public var runs: Int
        /// Model load (and compile) time.
        public var loadMs: Double
        /// The process's peak resident memory after this stage's runs (MB of 2^20 bytes).
        public var peakRssMb: Double
        /// The sizes the stage was called with (B, K, N, P).
        public var sizes: [String: Int]

        enum CodingKeys: String, CodingKey {
            case stage, batch
            case medianMs = "median_ms"
            case p90Ms = "p90_ms"
            case minMs = "min_ms"
            case runs
            case loadMs = "load_ms"
            case peakRssMb = "peak_rss_mb"
            case sizes
        }
    }

    /// A tracked frame with `objects` objects, and the first (prompted) frame.
    public struct FrameRow: Sendable, Equatable, Codable {
        public var objects: Int
        public var firstFrameMs: Double
        public var medianMs: Double
        public var p90Ms: Double
        public var runs: Int
        /// The stage calls of one tracked frame: stage → the object batch of each call.
        public var calls: [String: [Int]]
        /// Whether every timed frame made the same calls.
        public var callsSameEveryFrame: Bool

        enum CodingKeys: String, CodingKey {
            case objects
            case firstFrameMs = "first_frame_ms"
            case medianMs = "median_ms"
            case p90Ms = "p90_ms"
            case runs, calls
            case callsSameEveryFrame = "calls_same_every_frame"
        }
    }

    /// The report as pretty-printed JSON (keys sorted, so two runs diff cleanly).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Writes the JSON to `url` atomically (a temporary file renamed into place: never half a report).
    public func write(to url: URL) throws {
        do {
            try jsonData().write(to: url, options: .atomic)
        } catch {
            throw EdgeTAMError.input("cannot write the benchmark report to \(url.path) (\(error.localizedDescription))")
        }
    }
}
