// Concatenation along the sequence axis: parts [Bi, Ti, C] → out [B, ΣTi, C].
//
// A part with Bi = 1 (a soft prompt [1, P, C], a shared prefix) is broadcast to every
// batch row; its gradient is the sum over rows. Parts may be empty (Ti = 0).

/// Sequence-axis concatenation of `[B, T, C]` buffers with batch-1 broadcast.
enum ConcatSequence {
    /// One input (or its gradient): `[batch, length, C]` at `base`, `batch` ∈ {B, 1}.
    struct Part {
        var base: UnsafeMutablePointer<Float>
        var batch: Int
        var length: Int
    }

    /// `out[b, offset_i + t, :] = part_i[batch_i == 1 ? 0 : b, t, :]`, where `offset_i` is
    /// the total length of the parts before part `i`.
    ///
    /// - Parameters:
    ///   - out: `[B, T, C]` with `T = Σ length_i`.
    ///   - parts: each `[B or 1, length_i, C]`.
    static func forward(out: UnsafeMutablePointer<Float>, parts: [Part], B: Int, C: Int) {
        let T = parts.reduce(0) { $0 + $1.length }
        Parallel.forRows(B, costPerRow: T * C) { b in
            var dst = out + b * T * C
            for part in parts where part.length > 0 {
                let rowSize = part.length * C
                let src = part.base + (part.batch == 1 ? 0 : b) * rowSize
                dst.update(from: src, count: rowSize)
                dst += rowSize
            }
        }
    }

    /// `dpart_i[β, t, :] += Σ_{b ↦ β} dout[b, offset_i + t, :]`: a full-batch part gets
    /// its own slice of `dout`, a batch-1 part the sum over all `B` rows. A `nil` entry is
    /// a part that needs no gradient (its length still counts toward the offsets).
    ///
    /// - Parameters:
    ///   - dparts: gradients of the parts, `[B or 1, length_i, C]`, in order.
    ///   - lengths: `length_i` of every part (also of those without gradient).
    ///   - dout: `[B, T, C]`.
    static func backward(dparts: [Part?], lengths: [Int], dout: UnsafePointer<Float>, B: Int, C: Int) {
        precondition(dparts.count == lengths.count, "concatSequence backward: \(dparts.count) parts, \(lengths.count) lengths")
        let T = lengths.reduce(0, +)
        var offset = 0
        for (index, length) in lengths.enumerated() {
            defer { offset += length }
            guard let dpart = dparts[index], length > 0 else { continue }
            precondition(dpart.length == length, "concatSequence backward: part \(index) length \(dpart.length) ≠ \(length)")
            let rowSize = length * C
            // Split each row slice across threads; every chunk visits the batch rows in
            // order, so broadcast sums never race and do not depend on the thread count.
            Parallel.forChunks(rowSize, grain: max(64, Elementwise.grain / max(B, 1))) { range in
                for b in 0..<B {
                    let src = dout + b * T * C + offset * C
                    let dst = dpart.base + (dpart.batch == 1 ? 0 : b) * rowSize
                    Elementwise.vectors(range) { j, lanes in
                        let sum = Elementwise.load(dst + j, lanes: lanes) + Elementwise.load(src + j, lanes: lanes)
                        Elementwise.store(sum, dst + j, lanes: lanes)
                    }
                }
            }
        }
    }
}
