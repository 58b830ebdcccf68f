/// The command line of `edgetam-bench` (parsed by hand: the package uses no outside packages). Lives in the
/// library so its parsing is tested.
public struct BenchArguments: Sendable, Equatable {
    public static let usage = """
        usage: edgetam-bench EXPORT_DIR --out FILE.json [--compute-units all|cpu|cpu-gpu|cpu-ne ...]
                             [--runs N] [--warmup N] [--frames N] [--objects 1,2,4] [--stand-in]

        Times the Core ML stages of an export folder (manifest.json + coreml/*.mlpackage) on this Mac: each
        stage alone (load and compile time, median and p90, peak memory), then a tracked frame for each
        object count and the first prompted frame. Writes a report in the schema of `edgetam-export bench`
        (render it with `edgetam-export bench-render FILE.json`).

          --compute-units U   Core ML setting(s), repeatable or comma-separated (default: all four):
                                cpu      CPU only
                                cpu-gpu  CPU and GPU
                                cpu-ne   CPU and Neural Engine
                                all      Core ML chooses per layer
                              With several, FILE.json becomes FILE-<setting>.json, one report each.
          --runs N            timed calls per stage (default 10)
          --warmup N          untimed calls (frames) first (default 2)
          --frames N          tracked frames timed per object count (default 8)
          --objects LIST      object counts (default 1,2,4)
          --stand-in          no model: a runner that checks each call against the contract and returns
                              zeros (for tests; runs anywhere, measures nothing)
        """

    public var exportFolder: String
    public var out: String
    public var computeUnits: [ComputeUnits]
    public var options: BenchmarkOptions
    public var standIn: Bool

    /// Parses the arguments after the program name; errors say which argument is wrong and how to fix it.
    public static func parse(_ arguments: [String]) throws -> BenchArguments {
        var folder: String?
        var out: String?
        var units: [ComputeUnits] = []
        var options = BenchmarkOptions()
        var standIn = false
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let next = rest.popFirst(), !next.hasPrefix("--") else {
                throw EdgeTAMError.input("\(flag) needs a value\n\n\(usage)")
            }
            return next
        }
        func count(_ flag: String, minimum: Int) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number >= minimum else {
                throw EdgeTAMError.input("\(flag) takes a whole number ≥ \(minimum), got \(text)")
            }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--out": out = try value(argument)
            case "--runs": options.runs = try count(argument, minimum: 1)
            case "--warmup": options.warmup = try count(argument, minimum: 0)
            case "--frames": options.trackedFrames = try count(argument, minimum: 1)
            case "--stand-in": standIn = true
            case "--objects":
                let text = try value(argument)
                let counts = text.split(separator: ",").map { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                    throw EdgeTAMError.input("--objects takes a list like 1,2,4 (counts ≥ 1), got \(text)")
                }
                options.objects = counts.compactMap { $0 }
            case "--compute-units":
                for flag in try value(argument).split(separator: ",").map(String.init) {
                    guard let unit = ComputeUnits(flag: flag) else {
                        let known = ComputeUnits.allCases.map(\.flag).joined(separator: ", ")
                        throw EdgeTAMError.input("--compute-units: unknown setting \(flag); choose from \(known)")
                    }
                    if !units.contains(unit) { units.append(unit) }
                }
            case "-h", "--help":
                throw EdgeTAMError.input(usage)
            default:
                if argument.hasPrefix("-") {
                    throw EdgeTAMError.input("unknown option \(argument)\n\n\(usage)")
                }
                if let folder {
                    throw EdgeTAMError.input("one export folder, got \(folder) and \(argument)\n\n\(usage)")
                }
                folder = argument
            }
        }
        guard let folder else { throw EdgeTAMError.input("no export folder given\n\n\(usage)") }
        guard let out else { throw EdgeTAMError.input("--out FILE.json is required\n\n\(usage)") }
        return BenchArguments(
            exportFolder: folder, out: out, computeUnits: units.isEmpty ? ComputeUnits.allCases : units,
            options: options, standIn: standIn)
    }

    /// Where the report of `units` goes: `--out` itself for one setting, FILE-<setting>.json for several.
    public func outputPath(for units: ComputeUnits?) -> String {
        guard let units, computeUnits.count > 1, !standIn else { return out }
        let dot = out.lastIndex(of: ".").flatMap { $0 > (out.lastIndex(of: "/") ?? out.startIndex) ? $0 : nil }
        guard let dot else { return "\(out)-\(units.flag)" }
        return "\(out[..<dot])-\(units.flag)\(out[dot...])"
    }
}
