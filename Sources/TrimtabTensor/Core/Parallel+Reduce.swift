extension Parallel {
    /// Runs `body(rowRange, partial)` over disjoint chunks of `0..<rows` in parallel and
    /// returns the chunks' partial sums added together.
    ///
    /// Each chunk accumulates into its own zeroed buffer of `width` Doubles (a weight or
    /// bias gradient summed over rows), so no two threads write the same memory; the
    /// buffers are then added in chunk order, which makes the result deterministic for a
    /// given thread count. `costPerRow` (elements touched) decides how many chunks pay.
    static func sumOverRowChunks(_ rows: Int, width: Int, costPerRow: Int,
                                 _ body: (Range<Int>, UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        var total = [Double](repeating: 0, count: width)
        if rows <= 0 { return total }
        let grain = max(1, 16_384 / max(costPerRow, 1))
        let chunks = min(threadCount, max(1, rows / grain))
        let partials = UnsafeMutablePointer<Double>.allocate(capacity: max(chunks * width, 1))
        defer { partials.deallocate() }
        partials.initialize(repeating: 0, count: max(chunks * width, 1))
        forChunks(chunks, grain: 1) { range in
            for chunk in range {
                body(rows * chunk / chunks ..< rows * (chunk + 1) / chunks, partials + chunk * width)
            }
        }
        for chunk in 0..<chunks {
            let partial = partials + chunk * width
            for i in 0..<width { total[i] += partial[i] }
        }
        return total
    }
}
