import Foundation

// Scaled dot-product attention (Vaswani et al. 2017) with grouped-query heads (Ainslie et
// al. 2023, https://arxiv.org/abs/2305.13245), a key padding mask and prefix key/value rows
// (Li & Liang 2021, https://arxiv.org/abs/2101.00190; P-tuning v2). Reference semantics:
// `softmax(Q Kᵀ · scale + mask) V` with `repeat_interleave` of the kv heads, as in
// transformers' `eager_attention_forward`.
//
// For one query row q (batch b, head h, position t), over the keys it may see (prefix rows
// first, then keys j ≤ t + S − T when causal, minus masked ones):
//   sⱼ = scale · q·kⱼ        L = log Σⱼ exp sⱼ        pⱼ = exp(sⱼ − L)        o = Σⱼ pⱼ vⱼ
// Backward, with Δ = dO·o:
//   dvⱼ += pⱼ dO      dsⱼ = pⱼ (dO·vⱼ − Δ)      dq += scale Σⱼ dsⱼ kⱼ      dkⱼ += scale dsⱼ q
//
// Memory: forward saves only L per (b, h, t) — `[B, Hq, T]` floats — and backward
// recomputes sⱼ and pⱼ from q, k and L (the FlashAttention recipe, Dao et al. 2022). Storing
// p instead would cost `B·Hq·T·(P+S)` floats per layer (≈ 5.5 MB at B=8, T=128, Hq=9, P=20,
// i.e. 160 MB over 30 layers) to save one q·k product per (query, key) pair in backward,
// about a fifth of the backward's arithmetic. Backward's working set is two per-thread
// `[Hq/Hkv, tile, P+S]` buffers of about 128 KB each.
//
// Two strategies compute the same math. Prompts and training batches (two or more
// queries, D a multiple of 16) run the products as register-tiled small GEMMs over keys
// and values packed per (batch row, kv head) (AttentionBlocks.swift, C kernels in
// CTrimtabKernels/attention.c). A BLAS call per (row, head) block costs more in set-up
// than the block's arithmetic: oneDNN's batched sgemm needed ≈ 16 ms of one thread for
// just the two forward products at B=8, T=128, Hq=9, Hkv=3, D=64, P=20, as long as the
// whole row-by-row forward. Single decoding steps (T = 1) use the row-by-row SIMD loops
// here (AttentionForward/Backward.swift), which need no packing: per query row, scores
// into a row buffer, exponentiated in place, weighting the value rows. Both skip the
// causally hidden keys (the blocks up to the last query of a block of 32), need no
// `[T, S]` score buffer, and run inside our own parallel loop (GEMM calls must not run
// concurrently with it).

/// Shapes and flags of one attention call.
struct AttentionGeometry {
    /// B: batch rows.
    var batch: Int
    /// T: queries per row.
    var queries: Int
    /// S: keys (and values) per row.
    var keys: Int
    /// Hq: query heads.
    var queryHeads: Int
    /// Hkv: key/value heads (divides Hq).
    var kvHeads: Int
    /// D: dimensions per head.
    var headDim: Int
    /// P: prefix rows (0 without a prefix).
    var prefix: Int = 0
    /// Bp: batch rows of the prefix tensors, 1 (broadcast) or B.
    var prefixBatch: Int = 1
    var causal: Bool
    var scale: Float
    /// Queries per backward tile of the row-by-row kernels; nil picks one from the shapes
    /// (tests force small tiles).
    var queryTile: Int? = nil
    /// Whether the products run as register-tiled blocks over packed keys and values
    /// (``AttentionWorkspace``) rather than row by row; nil picks from the shapes (tests
    /// force both).
    var blocked: Bool? = nil

    /// The blocked kernels need `D` in multiples of 16 and pay for packing the keys and
    /// values once per (batch row, kv head), so single decoding steps (T = 1) run row by row.
    /// Every prompt of two tokens or more runs blocked, in a batch or alone: the two
    /// strategies round differently (~1e-7 relative per call, up to ~1e-3 of a logit
    /// after 30 layers), and a row must give the same logits in a batch as alone.
    var usesBlocks: Bool {
        if let blocked {
            precondition(!blocked || headDim % 16 == 0, "attention: blocked kernels need D a multiple of 16")
            return blocked
        }
        return headDim % 16 == 0 && queries > 1
    }

    /// Query heads per kv head.
    var groupSize: Int { queryHeads / kvHeads }

    /// Keys `0..<keyLimit(t)` are causally visible to query `t` (all keys when not causal).
    @inline(__always)
    func keyLimit(_ t: Int) -> Int {
        causal ? min(keys, max(0, t + keys - queries + 1)) : keys
    }

    /// Fills `counts[t]` for every query: query `t` sees the first `counts[t]` rows of
    /// the visible-rows list (``AttentionOperands/visibleRows(_:_:into:)``: `prefixCount`
    /// prefix rows, then `keyCount` ascending key positions); nondecreasing in `t`.
    @inline(__always)
    func visibleCounts(_ counts: UnsafeMutablePointer<Int>, indices: UnsafePointer<Int>, prefixCount: Int,
                       keyCount: Int) {
        var visibleKeys = 0
        for t in 0..<queries {
            let limit = keyLimit(t)
            while visibleKeys < keyCount && indices[prefixCount + visibleKeys] < limit { visibleKeys += 1 }
            counts[t] = prefixCount + visibleKeys
        }
    }

    /// Element offset of `[b, t, h, 0]` in a `[B, T, Hq, D]` tensor.
    @inline(__always)
    func queryOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * queries + t) * queryHeads + h) * headDim }

    /// Element offset of `[b, j, g, 0]` in a `[B, S, Hkv, D]` tensor.
    @inline(__always)
    func keyOffset(_ b: Int, _ j: Int, _ g: Int) -> Int { ((b * keys + j) * kvHeads + g) * headDim }

    /// Element offset of `[b or 0, p, g, 0]` in a `[Bp, P, Hkv, D]` prefix tensor.
    @inline(__always)
    func prefixOffset(_ b: Int, _ p: Int, _ g: Int) -> Int {
        (((prefixBatch == 1 ? 0 : b) * prefix + p) * kvHeads + g) * headDim
    }
}

/// The raw operands of one attention call.
struct AttentionOperands {
    /// `[B, T, Hq, D]`
    var query: UnsafePointer<Float>
    /// `[B, S, Hkv, D]`
    var key: UnsafePointer<Float>
    /// `[B, S, Hkv, D]`
    var value: UnsafePointer<Float>
    /// `[Bp, P, Hkv, D]` or nil when P = 0.
    var prefixKey: UnsafePointer<Float>?
    /// `[Bp, P, Hkv, D]` or nil when P = 0.
    var prefixValue: UnsafePointer<Float>?
    /// `[B, S]`, nonzero = valid; nil = all valid.
    var keyMask: UnsafePointer<UInt8>?
    /// `[B, P]`, nonzero = valid; nil = all valid.
    var prefixMask: UnsafePointer<UInt8>?

    @inline(__always)
    func keyValid(_ b: Int, _ j: Int, _ g: AttentionGeometry) -> Bool {
        keyMask.map { $0[b * g.keys + j] != 0 } ?? true
    }

    @inline(__always)
    func prefixValid(_ b: Int, _ p: Int, _ g: AttentionGeometry) -> Bool {
        prefixMask.map { $0[b * g.prefix + p] != 0 } ?? true
    }
}

extension AttentionOperands {
    /// Lists the rows batch row `b` may attend to (before the causal cut): its valid
    /// prefix rows, then its valid keys in ascending order.
    ///
    /// - Parameter indices: receives `P + S` at most: prefix row indices `p`, then key
    ///   positions `j`.
    /// - Returns: how many prefix rows and keys were listed.
    @inline(__always)
    func visibleRows(_ b: Int, _ g: AttentionGeometry, into indices: UnsafeMutablePointer<Int>)
        -> (prefix: Int, keys: Int) {
        var n = 0
        if prefixKey != nil {
            for p in 0..<g.prefix where prefixValid(b, p, g) {
                indices[n] = p
                n += 1
            }
        }
        let prefixCount = n
        for j in 0..<g.keys where keyValid(b, j, g) {
            indices[n] = j
            n += 1
        }
        return (prefixCount, n - prefixCount)
    }
}

/// Gradient buffers of one attention call; a nil buffer is not computed. All accumulate.
struct AttentionGradients {
    /// `[B, T, Hq, D]`
    var query: UnsafeMutablePointer<Float>?
    /// `[B, S, Hkv, D]`
    var key: UnsafeMutablePointer<Float>?
    /// `[B, S, Hkv, D]`
    var value: UnsafeMutablePointer<Float>?
    /// `[Bp, P, Hkv, D]` (summed over the batch when Bp = 1)
    var prefixKey: UnsafeMutablePointer<Float>?
    /// `[Bp, P, Hkv, D]` (summed over the batch when Bp = 1)
    var prefixValue: UnsafeMutablePointer<Float>?
}

/// Forward and backward kernels of attention (see the top of this file for the math).
enum AttentionKernel {}
