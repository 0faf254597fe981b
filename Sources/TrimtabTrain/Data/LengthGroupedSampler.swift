import TrimtabTensor

/// Orders examples into batches of similar length, reproducibly.
///
/// Each epoch: the examples are shuffled, cut into buckets of `bucketBatches × batchSize`,
/// each bucket is sorted by length and cut into batches, and the order of all batches is
/// shuffled. Rows of a batch then need little padding, and batches still come in random
/// order. The order depends only on `seed` and the epoch, so a resumed run recomputes it.
public struct LengthGroupedSampler: Sendable {
    /// Length of each example (tokens).
    public let lengths: [Int]
    /// Examples per batch (the last batch of an epoch may have fewer).
    public let batchSize: Int
    /// Seeds every epoch's order.
    public let seed: UInt64
    /// Batches per bucket: 1 sorts nothing; larger buckets pad less but mix lengths less.
    public let bucketBatches: Int

    /// A sampler over examples of the given lengths.
    public init(lengths: [Int], batchSize: Int, seed: UInt64, bucketBatches: Int = 50) {
        precondition(batchSize > 0 && bucketBatches > 0, "batch size \(batchSize), bucket batches \(bucketBatches)")
        self.lengths = lengths
        self.batchSize = batchSize
        self.seed = seed
        self.bucketBatches = bucketBatches
    }

    /// Number of batches in every epoch (the last one may be smaller).
    public var batchesPerEpoch: Int { (lengths.count + batchSize - 1) / batchSize }

    /// The batches of `epoch` (0-based), as example indices.
    public func batches(epoch: Int) -> [[Int]] {
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        var order = Array(lengths.indices)
        Self.shuffle(&order, &rng)
        var batches: [[Int]] = []
        let bucketSize = batchSize * bucketBatches
        var start = 0
        while start < order.count {
            let bucket = order[start..<min(start + bucketSize, order.count)]
            // Sort by length; ties keep the shuffled order (deterministic).
            let sorted = bucket.enumerated().sorted { a, b in
                lengths[a.element] != lengths[b.element] ? lengths[a.element] < lengths[b.element] : a.offset < b.offset
            }.map(\.element)
            var i = 0
            while i < sorted.count {
                batches.append(Array(sorted[i..<min(i + batchSize, sorted.count)]))
                i += batchSize
            }
            start += bucketSize
        }
        Self.shuffle(&batches, &rng)
        return batches
    }

    /// Batches for evaluation: every example once, longest first, in batches of similar
    /// length (no randomness).
    public static func evaluationBatches(lengths: [Int], batchSize: Int) -> [[Int]] {
        precondition(batchSize > 0, "batch size \(batchSize)")
        let sorted = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        return stride(from: 0, to: sorted.count, by: batchSize).map { Array(sorted[$0..<min($0 + batchSize, sorted.count)]) }
    }

    /// Fisher–Yates with the given generator.
    static func shuffle<T>(_ items: inout [T], _ rng: inout SplitMix64) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            items.swapAt(i, j)
        }
    }
}
