import Foundation

#if canImport(Darwin)
    import Darwin
#endif

/// The process's peak resident memory: what an app running the models needs the system to keep in RAM.
public enum ResidentMemory {
    /// The peak resident set size in MB (2^20 bytes) so far, or nil where the system does not tell.
    /// Apple platforms: `task_info(MACH_TASK_BASIC_INFO).resident_size_max`; Linux: `VmHWM` of
    /// /proc/self/status (the same figure the Python benchmark reads).
    public static func peakMB() -> Double? {
        #if canImport(Darwin)
            var info = mach_task_basic_info()
            var count = mach_msg_type_number_t(MemoryLayout<mach_task_basic_info>.size / MemoryLayout<natural_t>.size)
            let status = withUnsafeMutablePointer(to: &info) { pointer in
                pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                    task_info(mach_task_self_, task_flavor_t(MACH_TASK_BASIC_INFO), $0, &count)
                }
            }
            guard status == KERN_SUCCESS else { return nil }
            return Double(info.resident_size_max) / 1_048_576
        #else
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
            return vmHWM(inProcStatus: status)
        #endif
    }

    /// The `VmHWM:` line of a /proc/<pid>/status text, in MB (the kernel reports kB), or nil.
    public static func vmHWM(inProcStatus text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, let kilobytes = Double(fields[1]) {
                return kilobytes / 1024
            }
        }
        return nil
    }
}
