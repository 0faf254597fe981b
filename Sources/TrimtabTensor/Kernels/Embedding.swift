// Embedding lookup: rows of a table [V, C] picked by token ids.
//
// Forward copies (or widens, for a frozen bf16/f16 table) one row per id. Backward is a
// scatter-add of the output gradient into only the rows the ids name: a vocabulary of
// 50k rows costs nothing for the rows a batch never touched, and an id that appears
// several times receives the sum of all its positions' gradients.

/// Token-id row lookup and its scatter-add backward.
enum Embedding {
    /// `out[n, :] = table[ids[n], :]` for an f32 table.
    ///
    /// - Parameters:
    ///   - out: `[N, C]`.
    ///   - table: `[V, C]`.
    ///   - ids: `[N]`, each in `0..<V` (the caller validates them).
    static func forward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
                        count: Int, C: Int) {
        Parallel.forRows(count, costPerRow: C) { n in
            (out + n * C).update(from: table + Int(ids[n]) * C, count: C)
        }
    }

    /// `out[n, :] = widen(table[ids[n], :])` for a bf16 or f16 table (rows widened to
    /// f32 exactly).
    ///
    /// - Parameters:
    ///   - out: `[N, C]`.
    ///   - table: `[V, C]` as raw 16-bit words of `dtype`.
    ///   - ids: `[N]`, each in `0..<V`.
    static func forward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<UInt16>, dtype: DType,
                        ids: UnsafePointer<Int32>, count: Int, C: Int) {
        precondition(dtype == .bf16 || dtype == .f16, "embedding: a 16-bit table of dtype \(dtype)")
        Parallel.forRows(count, costPerRow: C) { n in
            let src = table + Int(ids[n]) * C, dst = out + n * C
            if dtype == .bf16 {
                for c in 0..<C { dst[c] = floatFromBF16(src[c]) }
            } else {
                for c in 0..<C { dst[c] = floatFromF16(src[c]) }
            }
        }
    }

    /// `dtable[ids[n], :] += dout[n, :]` for every position `n`; rows no id names are
    /// not touched. Channels are split across threads (every thread visits all
    /// positions in order), so repeated ids never race and the sums do not depend on
    /// the thread count.
    ///
    /// - Parameters:
    ///   - dtable: `[V, C]`.
    ///   - dout: `[N, C]`.
    ///   - ids: `[N]`, each in `0..<V`.
    static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
                         count: Int, C: Int) {
        let grainChannels = max(16, Elementwise.grain / max(count, 1))
        Parallel.forChunks(C, grain: grainChannels) { channels in
            for n in 0..<count {
                let dst = dtable + Int(ids[n]) * C, src = dout + n * C
                Elementwise.vectors(channels) { c, lanes in
                    let sum = Elementwise.load(dst + c, lanes: lanes) + Elementwise.load(src + c, lanes: lanes)
                    Elementwise.store(sum, dst + c, lanes: lanes)
                }
            }
        }
    }

    /// The first id outside `0..<vocabulary`, with its position, or `nil` if all are valid.
    static func firstInvalid(_ ids: UnsafeBufferPointer<Int32>, vocabulary: Int) -> (position: Int, id: Int32)? {
        for (n, id) in ids.enumerated() where id < 0 || Int(id) >= vocabulary {
            return (n, id)
        }
        return nil
    }
}
