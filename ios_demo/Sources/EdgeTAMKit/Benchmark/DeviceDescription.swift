import Foundation

#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#endif

/// The report's device block for the machine this runs on: model, chip, OS, cores, memory and the compute
/// units it offers. Apple platforms ask sysctl (hw.machine, hw.model, machdep.cpu.brand_string) and
/// ProcessInfo; Linux asks uname and /proc/cpuinfo, as the Python benchmark does.
public enum DeviceDescription {
    /// This device. `computeUnits` is what it offers (Core ML's device list on Apple platforms, see
    /// `CoreMLDevices`); the default is the CPU only.
    public static func current(computeUnits: [String] = ["CPU"]) -> BenchmarkReport.Device {
        let process = ProcessInfo.processInfo
        let memory = (Double(process.physicalMemory) / 1_073_741_824 * 10).rounded() / 10
        #if canImport(Darwin)
            let machine = sysctlString("hw.machine") ?? "unknown"
            let kind: String
            let model: String
            if machine.hasPrefix("iPhone") || machine.hasPrefix("iPad") {
                kind = machine.hasPrefix("iPhone") ? "iphone" : "ipad"
                model = machine
            } else {
                kind = "mac"
                model = sysctlString("hw.model") ?? machine
            }
            // iOS has no brand string; the model identifier then stands for the chip (it determines it).
            let chip = sysctlString("machdep.cpu.brand_string") ?? "Apple silicon (\(model))"
            let os = "\(kind == "mac" ? "macOS" : "iOS") \(process.operatingSystemVersionString)"
        #else
            let (system, release, machine) = unameFields()
            let kind = system.lowercased()
            let model = "\(machine) \(system) machine"
            let chip = cpuinfoModelName() ?? machine
            let os = "\(system)-\(release)"
        #endif
        return BenchmarkReport.Device(
            kind: kind, model: model, chip: chip, os: os, cores: process.processorCount,
            memoryGB: memory > 0 ? memory : nil, computeUnits: computeUnits, swift: swiftVersion)
    }

    /// The Swift language mode the package was compiled with (a compiler version is not visible at run time).
    public static var swiftVersion: String {
        #if swift(>=6.2)
            "6.2+"
        #elseif swift(>=6.0)
            "6.0+"
        #else
            "5"
        #endif
    }

    #if canImport(Darwin)
        /// A sysctl string value by name, or nil.
        static func sysctlString(_ name: String) -> String? {
            var size = 0
            guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
            var buffer = [CChar](repeating: 0, count: size)
            guard sysctlbyname(name, &buffer, &size, nil, 0) == 0 else { return nil }
            let value = String(cString: buffer).trimmingCharacters(in: .whitespaces)
            return value.isEmpty ? nil : value
        }
    #else
        static func unameFields() -> (system: String, release: String, machine: String) {
            var names = utsname()
            guard uname(&names) == 0 else { return ("Linux", "unknown", "unknown") }
            func field<T>(_ value: inout T) -> String {
                withUnsafeBytes(of: &value) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
            }
            return (field(&names.sysname), field(&names.release), field(&names.machine))
        }

        static func cpuinfoModelName() -> String? {
            guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("model name") {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    #endif
}
