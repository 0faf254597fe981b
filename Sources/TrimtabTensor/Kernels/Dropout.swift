// Inverted dropout with a mask that is a pure function of (seed, element index).
//
// Element i is kept iff the i-th draw of `SplitMix64(seed:)` (its `nextFloat()`, 24
// random bits) is ≥ p. SplitMix64 is counter-based — its i-th output depends only on
// seed + (i+1)·γ — so every thread computes its chunk's draws directly, the mask is the
// same as a sequential loop over one generator, and backward recomputes it instead of
// storing it (no mask memory at all).
//
//   forward:  out[i]  = keep(i) ? inp[i] / (1 − p) : 0
//   backward: dinp[i] += keep(i) ? dout[i] / (1 − p) : 0

/// Seeded inverted dropout.
enum Dropout {
    /// SplitMix64's state increment γ.
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// Whether element `index` survives: the `index`-th `nextFloat()` of
    /// `SplitMix64(seed: seed)` is ≥ p, written as an integer compare of its top 24 bits
    /// against `threshold` = ⌈p · 2²⁴⌉ (see ``threshold(probability:)``).
    @inline(__always)
    static func keeps(_ index: Int, seed: UInt64, threshold: UInt64) -> Bool {
        var rng = SplitMix64(seed: seed &+ UInt64(truncatingIfNeeded: index) &* gamma)
        return rng.next() >> 40 >= threshold
    }

    /// `⌈p · 2²⁴⌉`: a 24-bit draw `u` (as `nextFloat() = u / 2²⁴`) is ≥ p iff `u` is ≥ this.
    static func threshold(probability p: Float) -> UInt64 {
        UInt64((Double(p) * 16_777_216).rounded(.up))
    }

    /// `out = mask ⊙ inp / (1 − p)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`; `0 ≤ p < 1`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
                        probability p: Float, seed: UInt64) {
        let threshold = threshold(probability: p), scale = 1 / (1 - p)
        Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
            for i in range {
                out[i] = keeps(i, seed: seed, threshold: threshold) ? inp[i] * scale : 0
            }
        }
    }

    /// `dinp += mask ⊙ dout / (1 − p)` with the mask of the same `seed` and `p`.
    ///
    /// - Parameters: `dinp`, `dout`: `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, count: Int,
                         probability p: Float, seed: UInt64) {
        let threshold = threshold(probability: p), scale = 1 / (1 - p)
        Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
            for i in range where keeps(i, seed: seed, threshold: threshold) {
                dinp[i] += dout[i] * scale
            }
        }
    }
}
