// Losses on the tape: softmax cross-entropy with ignored positions. The kernel
// (Kernels/CrossEntropy) documents the math and what the forward saves.

extension Tape {
    /// Mean softmax cross-entropy of `logits` against `targets`.
    ///
    /// - Parameters:
    ///   - logits: `[N, V]` (or `[..., V]` with `N` rows in all), f32.
    ///   - targets: `N` ids in `0..<V`; positions whose target is `ignoreIndex` do not count.
    ///   - ignoreIndex: the target that marks a position without loss (PyTorch's -100).
    /// - Returns: a scalar (shape `[]`): the mean of `−log softmax(logits[n])[targets[n]]`
    ///   over counted positions, or 0 (with a zero gradient) if none count. The backward
    ///   writes `(softmax − onehot) · dloss / count` into the logits' gradient, recomputing
    ///   each row's softmax from the saved logsumexp.
    public func crossEntropy(_ logits: Variable, targets: [Int32], ignoreIndex: Int32 = -100) -> Variable {
        let vocab = logits.shape.last ?? 0
        precondition(vocab > 0, "crossEntropy of logits \(logits.shape)")
        let rows = logits.value.count / vocab
        precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of \(logits.shape)")
        let losses = Tensor(zeros: [rows]), rowMax = Tensor(zeros: [rows]), rowSum = Tensor(zeros: [rows])
        targets.withUnsafeBufferPointer { t in
            guard let tBase = t.baseAddress else { return }  // no rows
            CrossEntropy.forward(losses: losses.floats, rowMax: rowMax.floats, rowSum: rowSum.floats,
                                 logits: logits.value.floats, targets: tBase,
                                 rows: rows, vocab: vocab, ignoreIndex: ignoreIndex)
        }
        let counted = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        var total = 0.0
        for r in 0..<rows { total += Double(losses.floats[r]) }
        let loss = Tensor(scalar: counted > 0 ? Float(total / Double(counted)) : 0)
        let input = logits.value
        return output(.crossEntropy, loss, inputs: [logits]) { dout in
            let dlogits = logits.gradBuffer()
            guard counted > 0 else { return }
            let scale = dout.floats[0] / Float(counted)
            let dlosses = targets.map { $0 == ignoreIndex ? Float(0) : scale }
            targets.withUnsafeBufferPointer { t in
                dlosses.withUnsafeBufferPointer { d in
                    guard let tBase = t.baseAddress, let dBase = d.baseAddress else { return }
                    CrossEntropy.backward(dlogits: dlogits.floats, dlosses: dBase, logits: input.floats,
                                          rowMax: rowMax.floats, rowSum: rowSum.floats, targets: tBase,
                                          rows: rows, vocab: vocab, ignoreIndex: ignoreIndex)
                }
            }
        }
    }
}
