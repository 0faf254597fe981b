// Building the input sequence on the tape: embedding lookup and sequence concatenation
// (the hooks prompt tuning, P-tuning and prefix methods prepend their rows through).
//
// Gradients (all accumulated):
//   y[n] = table[ids[n]]        : dtable[ids[n]] += dy[n]   (scatter-add, touched rows only)
//   y = concat_T(p_1, …, p_k)   : dp_i += its slice of dy (summed over rows if p_i is batch-1)

extension Tape {
    /// Rows of `table` picked by `ids`.
    ///
    /// A frozen table may be bf16 or f16 (rows are widened to f32); a trainable one must
    /// be f32. The backward scatter-adds the output gradient into only the rows the ids
    /// name (an id used several times accumulates every use), never a dense one-hot
    /// product.
    ///
    /// - Parameters:
    ///   - table: `[V, C]`.
    ///   - ids: token ids, each in `0..<V` (an id outside traps with its position).
    ///   - shape: the shape of the id grid, e.g. `[B, T]`; `ids.count` must equal its product.
    /// - Returns: `shape + [C]`.
    public func embedding(_ table: Variable, ids: [Int32], shape: [Int]) -> Variable {
        precondition(table.value.rank == 2, "embedding: table must be [V, C], got \(table.shape)")
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == ids.count,
                     "embedding: \(ids.count) ids for id shape \(shape)")
        let V = table.shape[0], C = table.shape[1], n = ids.count
        if let bad = ids.withUnsafeBufferPointer({ Embedding.firstInvalid($0, vocabulary: V) }) {
            preconditionFailure("embedding: id \(bad.id) at position \(bad.position) is outside the table's "
                                + "\(V) rows\(table.name.map { " (\($0))" } ?? "")")
        }
        let dtype = table.value.dtype
        precondition(dtype == .f32 || !table.requiresGrad,
                     "embedding: a trainable table must be f32, got \(dtype)")
        let out = Tensor(zeros: shape + [C])
        ids.withUnsafeBufferPointer { idp in
            guard let idBase = idp.baseAddress else { return }
            if dtype == .f32 {
                Embedding.forward(out: out.floats, table: table.value.floats, ids: idBase, count: n, C: C)
            } else {
                Embedding.forward(out: out.floats, table: table.value.halves, dtype: dtype, ids: idBase, count: n, C: C)
            }
        }
        return output(.embedding, out, inputs: [table], unread: [table]) { dout in
            ids.withUnsafeBufferPointer { idp in
                guard let idBase = idp.baseAddress else { return }
                Embedding.backward(dtable: table.gradBuffer().floats, dout: dout.floats, ids: idBase, count: n, C: C)
            }
        }
    }

    /// Concatenation along axis 1 of rank-3 tensors.
    ///
    /// Every part is `[Bi, Ti, C]` with `Bi` either the batch size `B` (the largest `Bi`)
    /// or 1: a batch-1 part (a soft prompt `[1, P, C]`) is repeated for every row and its
    /// gradient is summed over the rows. Parts may be empty (`Ti == 0`).
    ///
    /// - Parameters:
    ///   - parts: at least one `[Bi, Ti, C]` tensor, all with the same `C` (f32).
    /// - Returns: `[B, ΣTi, C]`.
    public func concatSequence(_ parts: [Variable]) -> Variable {
        precondition(!parts.isEmpty, "concatSequence of no parts")
        for (i, part) in parts.enumerated() {
            precondition(part.value.rank == 3, "concatSequence: part \(i) has shape \(part.shape), not [B, T, C]")
        }
        let C = parts[0].shape[2]
        let B = parts.map { $0.shape[0] }.max() ?? 0
        for (i, part) in parts.enumerated() {
            precondition(part.shape[2] == C, "concatSequence: part \(i) has \(part.shape[2]) channels, part 0 has \(C)")
            precondition(part.shape[0] == B || part.shape[0] == 1,
                         "concatSequence: part \(i) has batch \(part.shape[0]); every part needs batch \(B) or 1")
        }
        let lengths = parts.map { $0.shape[1] }
        let out = Tensor(zeros: [B, lengths.reduce(0, +), C])
        let views = parts.map { ConcatSequence.Part(base: $0.value.floats, batch: $0.shape[0], length: $0.shape[1]) }
        ConcatSequence.forward(out: out.floats, parts: views, B: B, C: C)
        return output(.concatSequence, out, inputs: parts, unread: parts) { dout in
            let dparts = parts.map { part -> ConcatSequence.Part? in
                guard part.requiresGrad else { return nil }
                return ConcatSequence.Part(base: part.gradBuffer().floats, batch: part.shape[0], length: part.shape[1])
            }
            ConcatSequence.backward(dparts: dparts, lengths: lengths, dout: dout.floats, B: B, C: C)
        }
    }
}
