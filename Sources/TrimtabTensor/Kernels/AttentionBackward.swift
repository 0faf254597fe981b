import CTrimtabKernels
import Foundation

extension AttentionKernel {
    /// Attention backward: accumulates the gradients of every operand whose buffer in
    /// `grads` is non-nil.
    ///
    /// Runs (b, kv head) pairs in parallel, each visiting all query heads of its group, so
    /// the rows of `dkey`/`dvalue` (shared by the group under GQA) have a single writer.
    /// Queries go in tiles: for a tile, the probabilities (recomputed from the saved
    /// log-sum-exp) and score gradients of every (head, query) row are kept in two
    /// `[r, tile, P+S]` buffers; `dq` is summed query by query, then `dk` and `dv` key
    /// row by key row down the buffers' columns, each output row held in registers, so a
    /// key's gradient row is read and written once per tile rather than once per query.
    /// With blocks (``AttentionGeometry/usesBlocks``), each task runs
    /// ``AttentionWorkspace/backward`` instead of the row-by-row tiles.
    /// A broadcast prefix (Bp = 1, B > 1) collects per-row gradients in a scratch
    /// `[B, P, Hkv, D]` buffer that is summed over the batch at the end.
    ///
    /// - Parameters:
    ///   - dout: `[B, T, Hq, D]`, the gradient of the output.
    ///   - out: `[B, T, Hq, D]`, the forward output.
    ///   - logSumExp: `[B, Hq, T]` from ``forward(out:logSumExp:_:_:)``.
    static func backward(_ grads: AttentionGradients, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
                         logSumExp: UnsafePointer<Float>, _ x: AttentionOperands, _ g: AttentionGeometry) {
        let d = g.headDim, width = max(g.prefix + g.keys, 1), group = g.groupSize
        let needScoreGradient = grads.query != nil || grads.key != nil || grads.prefixKey != nil
        let blocked = g.usesBlocks
        // Queries per tile: the two per-thread buffers stay near 128 KB each.
        let tile = max(1, min(g.queries, g.queryTile ?? max(16, 32_768 / (group * width))))
        let broadcastPrefix = g.prefixBatch == 1 && g.batch > 1 && g.prefix > 0
        let scratchCount = g.batch * g.prefix * g.kvHeads * d
        func makeScratch(_ target: UnsafeMutablePointer<Float>?) -> UnsafeMutablePointer<Float>? {
            guard broadcastPrefix, target != nil else { return nil }
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            buffer.initialize(repeating: 0, count: scratchCount)
            return buffer
        }
        let prefixKeyScratch = makeScratch(grads.prefixKey)
        let prefixValueScratch = makeScratch(grads.prefixValue)
        defer {
            prefixKeyScratch?.deallocate()
            prefixValueScratch?.deallocate()
        }
        /// Where the gradient of prefix row (b, p, kv) accumulates.
        func prefixGradient(_ scratch: UnsafeMutablePointer<Float>?, _ target: UnsafeMutablePointer<Float>?,
                            _ b: Int, _ p: Int, _ kv: Int) -> UnsafeMutablePointer<Float>? {
            if let scratch { return scratch + ((b * g.prefix + p) * g.kvHeads + kv) * d }
            return target.map { $0 + g.prefixOffset(b, p, kv) }
        }

        let tasks = g.batch * g.kvHeads
        let costPerTask = max(1, group * g.queries * width * d)
        Parallel.forChunks(tasks, grain: max(1, 16_384 / costPerTask)) { range in
            let indices = UnsafeMutablePointer<Int>.allocate(capacity: width)
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(g.queries, 1))
            let keyRows = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: width)
            let valueRows = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: width)
            let keyGradRows = UnsafeMutablePointer<UnsafeMutablePointer<Float>?>.allocate(capacity: width)
            let valueGradRows = UnsafeMutablePointer<UnsafeMutablePointer<Float>?>.allocate(capacity: width)
            /// `[group, tile, width]`: pⱼ and dsⱼ of each (head, query) row of the tile
            /// (the blocked kernels keep their own).
            let tileBuffer = blocked ? 0 : group * tile * width
            let probs = UnsafeMutablePointer<Float>.allocate(capacity: tileBuffer)
            let dscores = UnsafeMutablePointer<Float>.allocate(capacity: tileBuffer)
            let workspace = blocked ? AttentionWorkspace(width: width, headDim: d, backward: true) : nil
            defer {
                indices.deallocate()
                counts.deallocate()
                keyRows.deallocate()
                valueRows.deallocate()
                keyGradRows.deallocate()
                valueGradRows.deallocate()
                probs.deallocate()
                dscores.deallocate()
            }
            for task in range {
                let b = task / g.kvHeads, kv = task % g.kvHeads
                let (prefixCount, keyCount) = x.visibleRows(b, g, into: indices)
                let rowCount = prefixCount + keyCount
                for n in 0..<prefixCount {
                    let p = indices[n], row = g.prefixOffset(b, p, kv)
                    keyRows[n] = x.prefixKey! + row
                    valueRows[n] = x.prefixValue! + row
                    keyGradRows[n] = prefixGradient(prefixKeyScratch, grads.prefixKey, b, p, kv)
                    valueGradRows[n] = prefixGradient(prefixValueScratch, grads.prefixValue, b, p, kv)
                }
                for n in prefixCount..<rowCount {
                    let row = g.keyOffset(b, indices[n], kv)
                    keyRows[n] = x.key + row
                    valueRows[n] = x.value + row
                    keyGradRows[n] = grads.key.map { $0 + row }
                    valueGradRows[n] = grads.value.map { $0 + row }
                }
                g.visibleCounts(counts, indices: indices, prefixCount: prefixCount, keyCount: keyCount)
                if let workspace {
                    workspace.backward(grads, dout: dout, out: out, logSumExp: logSumExp, x, g, b: b, kv: kv,
                                       keyRows: keyRows, valueRows: valueRows, keyGradRows: keyGradRows,
                                       valueGradRows: valueGradRows, rowCount: rowCount, counts: counts)
                    continue
                }

                for tileStart in stride(from: 0, to: g.queries, by: tile) {
                    let tileEnd = min(g.queries, tileStart + tile)
                    // Per (head, query) row: pⱼ = exp(scale · q·kⱼ − L), dsⱼ = scale · pⱼ (dO·vⱼ − dO·o),
                    // and dq += Σⱼ dsⱼ kⱼ.
                    for member in 0..<group {
                        let h = kv * group + member
                        for t in tileStart..<tileEnd {
                            let count = counts[t]
                            guard count > 0 else { continue }  // no visible key: output was 0
                            let lse = logSumExp[(b * g.queryHeads + h) * g.queries + t]
                            let offset = g.queryOffset(b, t, h)
                            let q = x.query + offset, dO = dout + offset
                            let bufferRow = (member * tile + t - tileStart) * width
                            let p = probs + bufferRow, ds = dscores + bufferRow
                            HeadVector.rowDots(p, q, keyRows, count: count, n: d, scale: g.scale)
                            _ = trimtab_exp_row(p, count, count, lse)
                            guard needScoreGradient else { continue }
                            let delta = HeadVector.dot(dO, out + offset, d)
                            HeadVector.rowDots(ds, dO, valueRows, count: count, n: d, scale: 1)
                            for j in 0..<count { ds[j] = g.scale * p[j] * (ds[j] - delta) }
                            if let dq = grads.query {
                                HeadVector.weightedSum(dq + offset, ds, keyRows, count: count, n: d, scale: 1,
                                                       accumulate: true)
                            }
                        }
                    }
                    // Per visible row j: dvⱼ += Σ pⱼ dO and dkⱼ += Σ dsⱼ q over the tile's
                    // (head, query) rows that see it, a suffix of the tile's queries.
                    let queryStride = g.queryHeads * d
                    var firstQuery = tileStart
                    for j in 0..<rowCount {
                        while firstQuery < tileEnd && counts[firstQuery] <= j { firstQuery += 1 }
                        if firstQuery == tileEnd { break }
                        let seen = tileEnd - firstQuery
                        for member in 0..<group {
                            let h = kv * group + member
                            let column = (member * tile + firstQuery - tileStart) * width + j
                            let first = g.queryOffset(b, firstQuery, h)
                            if let dv = valueGradRows[j] {
                                HeadVector.accumulateStrided(dv, probs + column, weightStride: width,
                                                             dout + first, rowStride: queryStride, count: seen, n: d)
                            }
                            if needScoreGradient, let dk = keyGradRows[j] {
                                HeadVector.accumulateStrided(dk, dscores + column, weightStride: width,
                                                             x.query + first, rowStride: queryStride, count: seen, n: d)
                            }
                        }
                    }
                }
            }
        }

        // Broadcast prefix: sum the per-row gradients over the batch.
        for (scratch, target) in [(prefixKeyScratch, grads.prefixKey), (prefixValueScratch, grads.prefixValue)] {
            guard let scratch, let target else { continue }
            let rowCount = g.prefix * g.kvHeads * d
            for b in 0..<g.batch {
                let source = scratch + b * rowCount
                for i in 0..<rowCount { target[i] += source[i] }
            }
        }
    }
}
