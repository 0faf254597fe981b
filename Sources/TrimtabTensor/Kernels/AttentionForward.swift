import CTrimtabKernels
import Foundation

extension AttentionKernel {
    /// Attention forward: each query row's softmax-weighted sum of the values it may see.
    ///
    /// Runs (b, query head) pairs in parallel. Per pair, the visible key/value rows are
    /// listed once (valid prefix rows, then valid keys; a causal query sees a leading part
    /// of that list); per query row the scores go into a row buffer, are exponentiated in
    /// place, and weight the value rows. With blocks (``AttentionGeometry/usesBlocks``),
    /// each pair runs ``AttentionWorkspace/forward`` instead.
    ///
    /// - Parameters:
    ///   - out: `[B, T, Hq, D]`, overwritten. A row with no visible key gets zeros.
    ///   - logSumExp: `[B, Hq, T]`, overwritten with `L = log Σⱼ exp sⱼ` per row (−∞ for a
    ///     row with no visible key); backward recomputes the probabilities from it.
    static func forward(out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                        _ x: AttentionOperands, _ g: AttentionGeometry) {
        let d = g.headDim, width = max(g.prefix + g.keys, 1)
        let pairs = g.batch * g.queryHeads, blocked = g.usesBlocks
        let costPerPair = max(1, g.queries * width * d)
        Parallel.forChunks(pairs, grain: max(1, 32_768 / costPerPair)) { range in
            let indices = UnsafeMutablePointer<Int>.allocate(capacity: width)
            let keyRows = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: width)
            let valueRows = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: width)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: width)
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(g.queries, 1))
            let workspace = blocked ? AttentionWorkspace(width: width, headDim: d, backward: false) : nil
            defer {
                counts.deallocate()
                indices.deallocate()
                keyRows.deallocate()
                valueRows.deallocate()
                scores.deallocate()
            }
            for pair in range {
                let b = pair / g.queryHeads, h = pair % g.queryHeads, kv = h / g.groupSize
                let (prefixCount, keyCount) = x.visibleRows(b, g, into: indices)
                for n in 0..<prefixCount {
                    let row = g.prefixOffset(b, indices[n], kv)
                    keyRows[n] = x.prefixKey! + row
                    valueRows[n] = x.prefixValue! + row
                }
                for n in prefixCount ..< prefixCount + keyCount {
                    let row = g.keyOffset(b, indices[n], kv)
                    keyRows[n] = x.key + row
                    valueRows[n] = x.value + row
                }
                g.visibleCounts(counts, indices: indices, prefixCount: prefixCount, keyCount: keyCount)
                if let workspace {
                    workspace.forward(out: out, logSumExp: logSumExp, query: x.query, g, b: b, h: h, keyRows: keyRows,
                                      valueRows: valueRows, rowCount: prefixCount + keyCount, counts: counts)
                    continue
                }
                for t in 0..<g.queries {
                    let count = counts[t]
                    let o = out + g.queryOffset(b, t, h)
                    let lse = logSumExp + (b * g.queryHeads + h) * g.queries + t
                    guard count > 0 else {
                        o.update(repeating: 0, count: d)
                        lse.pointee = -Float.infinity
                        continue
                    }
                    HeadVector.rowDots(scores, x.query + g.queryOffset(b, t, h), keyRows, count: count, n: d,
                                       scale: g.scale)
                    var maxScore = scores[0]
                    for n in 1..<count { maxScore = max(maxScore, scores[n]) }
                    let total = trimtab_exp_row(scores, count, count, maxScore)
                    HeadVector.weightedSum(o, scores, valueRows, count: count, n: d, scale: 1 / total, accumulate: false)
                    lse.pointee = maxScore + Foundation.log(total)
                }
            }
        }
    }
}
