import Foundation

/// Times several variants of the same work side by side and reports each one's median.
///
/// Variants run round-robin (A, B, C, C, B, A, …) rather than one after the other, so a
/// burst of load from another process on the shared machine slows all of them alike and
/// ratios between them stay meaningful. Each variant first runs a few untimed warm-up
/// calls (primitive creation, thread pools, page faults), then timed rounds until the
/// rounds have taken `seconds` in all — at least ``minRuns`` and at most ``maxRuns``
/// rounds, so a long product still gets a median of three.
struct BenchTimer {
    /// Time budget for the timed rounds of one ``measure(_:)`` call, in seconds (all
    /// variants together, warm-up not included).
    var seconds: Double
    /// Untimed calls per variant before timing (fewer when one call is long).
    var warmups = 2
    var minRuns = 3
    var maxRuns = 2_000

    /// One variant's timings.
    struct Sample {
        /// Median seconds per call.
        var median: Double
        /// Fastest call, in seconds.
        var best: Double
        /// Timed calls.
        var runs: Int
    }

    /// Warms up and times `variants`, returning one sample per variant in order.
    func measure(_ variants: [() -> Void]) -> [Sample] {
        guard !variants.isEmpty else { return [] }
        var firstCall = [Double](repeating: 0, count: variants.count)
        for (index, variant) in variants.enumerated() {
            firstCall[index] = Self.time(variant)
        }
        for (index, variant) in variants.enumerated() {
            let extra = firstCall[index] > seconds / 8 ? 0 : warmups - 1
            for _ in 0..<max(extra, 0) { variant() }
        }
        var times = [[Double]](repeating: [], count: variants.count)
        var spent = 0.0
        var round = 0
        while round < maxRuns && (round < minRuns || spent < seconds) {
            // Alternate the order (A B C, C B A, …) so no variant always runs first.
            let order = round % 2 == 0 ? Array(variants.indices) : variants.indices.reversed()
            for index in order {
                let elapsed = Self.time(variants[index])
                times[index].append(elapsed)
                spent += elapsed
            }
            round += 1
        }
        return times.map { samples in
            let sorted = samples.sorted()
            let mid = sorted.count / 2
            let median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
            return Sample(median: median, best: sorted[0], runs: sorted.count)
        }
    }

    @inline(__always)
    private static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }
}
