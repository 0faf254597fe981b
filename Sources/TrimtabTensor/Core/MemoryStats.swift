import Synchronization

/// Live and peak bytes of tensor storage owned by this process.
///
/// Counts only ``TensorStorage`` allocations (not the GEMM backend's scratch space or
/// memory-mapped checkpoints); the resident set size is reported separately.
public enum MemoryStats {
    private static let live = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)

    static func allocated(_ bytes: Int) {
        let now = live.add(bytes, ordering: .relaxed).newValue
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    static func freed(_ bytes: Int) {
        live.subtract(bytes, ordering: .relaxed)
    }

    /// Bytes currently held by owned tensor storage.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }

    /// The largest value ``liveBytes`` has reached since start or the last reset.
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }

    /// Resets the peak to the current live count.
    public static func resetPeak() {
        peak.store(live.load(ordering: .relaxed), ordering: .relaxed)
    }
}
