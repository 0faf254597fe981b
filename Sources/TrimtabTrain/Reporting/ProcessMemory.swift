import Foundation

/// Memory figures of this process from `/proc/self/status` (Linux).
public enum ProcessMemory {
    /// The peak resident set size (`VmHWM`) in bytes, or `nil` where unavailable.
    public static var peakResidentBytes: Int? { field("VmHWM:") }

    /// The current resident set size (`VmRSS`) in bytes, or `nil` where unavailable.
    public static var residentBytes: Int? { field("VmRSS:") }

    private static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return field(name, in: text)
    }

    /// The value of `name` (`VmHWM:`) in a `/proc/<pid>/status` text, in bytes. The kernel
    /// separates name and value with a tab and pads with spaces (`VmHWM:\t    1976 kB`).
    static func field(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let parts = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let value = parts.first.flatMap({ Int($0) }) else { return nil }
            return parts.count > 1 && parts[1] == "kB" ? value * 1024 : value
        }
        return nil
    }
}
