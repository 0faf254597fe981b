import CTrimtabKernels

/// Attention's products as register-tiled blocks (`trimtab_sgemm_small`) over packed keys
/// and values: the strategy for calls with several query rows per head and `D` a multiple
/// of 16 (prompts, training batches); single decoding steps keep the row-by-row loops.
///
/// Per (batch row, kv head) the visible key and value rows (prefix rows first, masked
/// ones left out) are copied once into contiguous buffers — keys transposed to `[D, W]` for the
/// score products, values as `[W, D]` (and, in backward, the other layout of each) — and
/// the queries go in blocks of ``queryBlock`` rows. A block of causal queries computes
/// scores up to the keys its last query sees; the probabilities past a row's own limit are
/// zeros, so they add nothing to the products that follow. Measured on SmolLM2's shapes
/// (B=8, T=128, Hq=9, Hkv=3, D=64): the tiles alone run at ~70 GFLOP/s a core with
/// AVX-512 (~45 with AVX2); the row loops, which load two operands per multiply-add, ran
/// the whole forward at ~23 GFLOP/s on two cores, this strategy at ~65 (docs/PERFORMANCE.md).
///
/// Math and memory are those of the row kernels (Attention.swift): forward saves only the
/// log-sum-exp per query row, backward recomputes the probabilities from it.
final class AttentionWorkspace {
    /// Query rows per block.
    static let queryBlock = 32

    private let headDim: Int
    /// Forward: the (batch row, kv head) whose keys and values `keysT` and `values` hold.
    /// The query heads of a group share them, and a thread's pairs come in order, so the
    /// group's next pairs skip the packing.
    private var packedFor: Int?  // b · Hkv + kv
    /// `[D, Wp]`: visible key rows as columns, zero past the last.
    private let keysT: UnsafeMutablePointer<Float>
    /// Forward: `[W, D]` visible value rows. Backward: `[D, Wp]`, as columns.
    private let values: UnsafeMutablePointer<Float>
    /// Backward only: `[W, D]` visible key rows (for dq).
    private let keys: UnsafeMutablePointer<Float>?
    /// `[queryBlock, Wp]`: scores, then probabilities, of a block.
    private let probs: UnsafeMutablePointer<Float>
    /// Backward only: `[queryBlock, Wp]` score gradients of a block.
    private let dscores: UnsafeMutablePointer<Float>?
    /// Backward only: `[W, D]` gradients of the visible key and value rows of a task.
    private let keyGrads: UnsafeMutablePointer<Float>?, valueGrads: UnsafeMutablePointer<Float>?

    /// - Parameter width: the most rows a query may see (`P + S`).
    init(width: Int, headDim: Int, backward: Bool) {
        self.headDim = headDim
        let paddedWidth = Self.roundUp(width)
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutablePointer<Float>.allocate(capacity: count)
        }
        keysT = buffer(headDim * paddedWidth)
        values = buffer(headDim * paddedWidth)
        probs = buffer(Self.queryBlock * paddedWidth)
        keys = backward ? buffer(width * headDim) : nil
        dscores = backward ? buffer(Self.queryBlock * paddedWidth) : nil
        keyGrads = backward ? buffer(width * headDim) : nil
        valueGrads = backward ? buffer(width * headDim) : nil
    }

    deinit {
        for pointer in [keysT, values, probs, keys, dscores, keyGrads, valueGrads] { pointer?.deallocate() }
    }

    /// `n` rounded up to a multiple of 16 (at least 16).
    @inline(__always)
    private static func roundUp(_ n: Int) -> Int { max(16, (n + 15) / 16 * 16) }

    /// Copies rows `0..<count` (each `D` long) into the columns of `[D, stride]`, zeroing
    /// the columns up to `roundUp(count)`.
    private func packColumns(_ target: UnsafeMutablePointer<Float>, stride: Int,
                             _ rows: UnsafePointer<UnsafePointer<Float>>, count: Int) {
        let padded = Self.roundUp(count)
        for c in 0..<headDim {
            let column = target + c * stride
            for n in 0..<count { column[n] = rows[n][c] }
            if padded > count { (column + count).update(repeating: 0, count: padded - count) }
        }
    }

    /// Copies rows `0..<count` into `[count, D]`.
    private func packRows(_ target: UnsafeMutablePointer<Float>, _ rows: UnsafePointer<UnsafePointer<Float>>,
                          count: Int) {
        for n in 0..<count { (target + n * headDim).update(from: rows[n], count: headDim) }
    }

    /// `out (+)= alpha · A · B` (see `trimtab_sgemm_small`).
    @inline(__always)
    private static func product(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, rowStride: Int,
                                columnStride: Int, _ b: UnsafePointer<Float>, _ bStride: Int, alpha: Float = 1,
                                _ out: UnsafeMutablePointer<Float>, _ outStride: Int, accumulate: Bool) {
        trimtab_sgemm_small(m, n, k, a, rowStride, columnStride, b, bStride, alpha, out, outStride,
                            accumulate ? 1 : 0)
    }

    /// `target[i] += source[i]` for `i < count`, on this thread.
    @inline(__always)
    private static func accumulate(_ target: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, count: Int) {
        Elementwise.vectors(0..<count) { i, lanes in
            Elementwise.store(Elementwise.load(target + i, lanes: lanes) + Elementwise.load(source + i, lanes: lanes),
                              target + i, lanes: lanes)
        }
    }

    /// Forward of one (batch row `b`, query head `h`) pair: writes its `[T, D]` output rows
    /// and its `T` log-sum-exps (see ``AttentionKernel/forward(out:logSumExp:_:_:)``).
    ///
    /// - Parameters:
    ///   - keyRows, valueRows: the pair's visible rows, `rowCount` of each.
    ///   - counts: `counts[t]` visible rows for query `t` (``AttentionGeometry/visibleCounts``).
    func forward(out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                 query: UnsafePointer<Float>, _ g: AttentionGeometry, b: Int, h: Int,
                 keyRows: UnsafePointer<UnsafePointer<Float>>, valueRows: UnsafePointer<UnsafePointer<Float>>,
                 rowCount: Int, counts: UnsafePointer<Int>) {
        let d = headDim, stride = Self.roundUp(rowCount), queryStride = g.queryHeads * d
        let kvRow = b * g.kvHeads + h / g.groupSize
        if packedFor != kvRow {
            packColumns(keysT, stride: stride, keyRows, count: rowCount)
            packRows(values, valueRows, count: rowCount)
            packedFor = kvRow
        }
        let lse = logSumExp + (b * g.queryHeads + h) * g.queries
        for first in Swift.stride(from: 0, to: g.queries, by: Self.queryBlock) {
            let rows = min(Self.queryBlock, g.queries - first)
            let o = out + g.queryOffset(b, first, h)
            let visible = counts[first + rows - 1]
            guard visible > 0 else {  // no query of the block sees a key: zeros
                for r in 0..<rows {
                    (o + r * queryStride).update(repeating: 0, count: d)
                    lse[first + r] = -.infinity
                }
                continue
            }
            Self.product(rows, Self.roundUp(visible), d, query + g.queryOffset(b, first, h), rowStride: queryStride,
                         columnStride: 1, keysT, stride, alpha: g.scale, probs, stride, accumulate: false)
            for r in 0..<rows {
                let p = probs + r * stride, count = counts[first + r]
                if count > 0 {
                    lse[first + r] = trimtab_softmax_row(p, count, Self.roundUp(visible))
                } else {
                    lse[first + r] = -.infinity
                    p.update(repeating: 0, count: visible)
                }
            }
            Self.product(rows, d, visible, probs, rowStride: stride, columnStride: 1, values, d, o, queryStride,
                         accumulate: false)
        }
    }

    /// Backward of one (batch row `b`, kv head `kv`) task over all query heads of its
    /// group: accumulates dq into `grads.query` and the visible rows' key and value
    /// gradients into `keyGradRows` / `valueGradRows` (nil rows are skipped) (see
    /// ``AttentionKernel/backward(_:dout:out:logSumExp:_:_:)``).
    func backward(_ grads: AttentionGradients, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
                  logSumExp: UnsafePointer<Float>, _ x: AttentionOperands, _ g: AttentionGeometry, b: Int, kv: Int,
                  keyRows: UnsafePointer<UnsafePointer<Float>>, valueRows: UnsafePointer<UnsafePointer<Float>>,
                  keyGradRows: UnsafePointer<UnsafeMutablePointer<Float>?>,
                  valueGradRows: UnsafePointer<UnsafeMutablePointer<Float>?>,
                  rowCount: Int, counts: UnsafePointer<Int>) {
        guard let keys, let dscores, let keyGrads, let valueGrads else {
            preconditionFailure("attention: a forward workspace used for backward")
        }
        let d = headDim, stride = Self.roundUp(rowCount), queryStride = g.queryHeads * d
        let wantKeys = grads.key != nil || grads.prefixKey != nil
        let wantValues = grads.value != nil || grads.prefixValue != nil
        let needScoreGradient = grads.query != nil || wantKeys
        packColumns(keysT, stride: stride, keyRows, count: rowCount)
        if needScoreGradient { packColumns(values, stride: stride, valueRows, count: rowCount) }
        if grads.query != nil { packRows(keys, keyRows, count: rowCount) }
        if wantKeys { keyGrads.update(repeating: 0, count: rowCount * d) }
        if wantValues { valueGrads.update(repeating: 0, count: rowCount * d) }

        for member in 0..<g.groupSize {
            let h = kv * g.groupSize + member
            let lse = logSumExp + (b * g.queryHeads + h) * g.queries
            for first in Swift.stride(from: 0, to: g.queries, by: Self.queryBlock) {
                let rows = min(Self.queryBlock, g.queries - first)
                let visible = counts[first + rows - 1]
                guard visible > 0 else { continue }  // no query of the block sees a key: no gradient
                let offset = g.queryOffset(b, first, h)
                let q = x.query + offset, dO = dout + offset
                // pⱼ = exp(scale · q·kⱼ − L), zero past each row's limit.
                Self.product(rows, Self.roundUp(visible), d, q, rowStride: queryStride, columnStride: 1, keysT,
                             stride, alpha: g.scale, probs, stride, accumulate: false)
                for r in 0..<rows {
                    let p = probs + r * stride, count = counts[first + r]
                    if count > 0 {
                        _ = trimtab_exp_row(p, count, Self.roundUp(visible), lse[first + r])
                    } else {
                        p.update(repeating: 0, count: visible)
                    }
                }
                if needScoreGradient {
                    // dsⱼ = scale · pⱼ (dO·vⱼ − dO·o)
                    Self.product(rows, Self.roundUp(visible), d, dO, rowStride: queryStride, columnStride: 1, values,
                                 stride, dscores, stride, accumulate: false)
                    for r in 0..<rows {
                        let p = probs + r * stride, ds = dscores + r * stride
                        let delta = HeadVector.dot(dO + r * queryStride, out + offset + r * queryStride, d)
                        for j in 0..<visible { ds[j] = g.scale * p[j] * (ds[j] - delta) }
                    }
                    if let dq = grads.query {  // dq += ds · K
                        Self.product(rows, d, visible, dscores, rowStride: stride, columnStride: 1, keys, d,
                                     dq + offset, queryStride, accumulate: true)
                    }
                    if wantKeys {  // dK += dsᵀ · Q
                        Self.product(visible, d, rows, dscores, rowStride: 1, columnStride: stride, q, queryStride,
                                     keyGrads, d, accumulate: true)
                    }
                }
                if wantValues {  // dV += pᵀ · dO
                    Self.product(visible, d, rows, probs, rowStride: 1, columnStride: stride, dO, queryStride,
                                 valueGrads, d, accumulate: true)
                }
            }
        }
        for n in 0..<rowCount {
            if wantKeys, let target = keyGradRows[n] { Self.accumulate(target, keyGrads + n * d, count: d) }
            if wantValues, let target = valueGradRows[n] { Self.accumulate(target, valueGrads + n * d, count: d) }
        }
    }
}
