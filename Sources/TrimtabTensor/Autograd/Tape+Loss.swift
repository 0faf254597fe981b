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
        let counted = Self.countedTargets(targets, ignoreIndex: ignoreIndex)
        let loss = Self.meanLoss(losses, counted: counted)
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

extension Tape {
    /// `crossEntropy(linear(x, weight), targets)` without ever holding all the logits.
    ///
    /// The output projection of a language model is its widest product (49152 columns for
    /// SmolLM2): `[N, V]` logits plus their gradient cost 400 MB at N = 1024. This op runs
    /// the rows in chunks of `chunk`: per chunk it computes the logits, their losses and —
    /// the loss being the end of the graph, its gradient `softmax − onehot` is known in the
    /// forward already — the input gradient `dlogits · W` for an upstream gradient of 1
    /// (each chunk's logits become their gradient in place). Backward only scales that
    /// saved `[N, C]` gradient by the upstream one. So the peak is one `[chunk, V]` buffer,
    /// and no logits are saved for backward.
    ///
    /// - Parameters:
    ///   - x: `[N, C]` (f32).
    ///   - weight: `[V, C]`, f32 or bf16. A trainable weight (full fine-tuning of a tied
    ///     embedding) needs its own gradient from every logit: then this is plain
    ///     ``linear(_:_:bias:)`` and ``crossEntropy(_:targets:ignoreIndex:)``.
    ///   - targets: `N` ids in `0..<V`, or `ignoreIndex`.
    ///   - chunk: rows per chunk.
    /// - Returns: the mean loss over counted rows (0 when none counts), a scalar.
    public func linearCrossEntropy(_ x: Variable, _ weight: Variable, targets: [Int32], ignoreIndex: Int32 = -100,
                                   chunk: Int = 128) -> Variable {
        precondition(x.value.rank == 2 && weight.value.rank == 2 && x.shape[1] == weight.shape[1],
                     "linearCrossEntropy: input \(x.shape) for weight \(weight.shape)")
        if weight.requiresGrad {
            return crossEntropy(linear(x, weight), targets: targets, ignoreIndex: ignoreIndex)
        }
        precondition(chunk > 0, "linearCrossEntropy: chunk \(chunk)")
        let rows = x.shape[0], width = x.shape[1], vocab = weight.shape[0]
        precondition(targets.count == rows, "linearCrossEntropy: \(targets.count) targets for \(rows) rows")
        let counted = Self.countedTargets(targets, ignoreIndex: ignoreIndex)
        let needsGradient = isRecording && x.requiresGrad && counted > 0
        // Every chunk's products overwrite their rows of these (beta = 0); with a gradient,
        // each chunk's logits turn into their gradient in place.
        let inputGradient = needsGradient ? Tensor(uninitialized: [rows, width]) : nil
        let span = min(chunk, max(rows, 1))
        let logits = Tensor(uninitialized: [span, vocab])
        let losses = Tensor(zeros: [rows])
        // Forward only: a chunk's row maxima and sums of exponentials.
        let rowStats = needsGradient ? nil : (max: Tensor(zeros: [span]), sum: Tensor(zeros: [span]))
        // The mean over counted targets: each row's loss has gradient 1 / counted.
        let rowWeight = counted > 0 ? 1 / Float(counted) : 0
        targets.withUnsafeBufferPointer { t in
            guard let targets = t.baseAddress else { return }  // no rows
            var start = 0
            while start < rows {
                let n = min(span, rows - start)
                let xRows = x.value.floats + start * width
                Self.weightProduct(GEMMShape(transB: true, m: n, n: vocab, k: width), a: xRows,
                                   rounded: x.roundedBF16.map { $0.halves + start * width }, weight: weight.value,
                                   c: logits.floats)
                if let inputGradient {
                    CrossEntropy.forwardWithGradient(losses: losses.floats + start, logits: logits.floats,
                                                     dloss: rowWeight, targets: targets + start, rows: n,
                                                     vocab: vocab, ignoreIndex: ignoreIndex)
                    // dx[n, C] = dlogits[n, V] · W[V, C]
                    Self.weightProduct(GEMMShape(m: n, n: width, k: vocab), a: logits.floats, weight: weight.value,
                                       c: inputGradient.floats + start * width)
                } else if let rowStats {
                    CrossEntropy.forward(losses: losses.floats + start, rowMax: rowStats.max.floats,
                                         rowSum: rowStats.sum.floats, logits: logits.floats, targets: targets + start,
                                         rows: n, vocab: vocab, ignoreIndex: ignoreIndex)
                }
                start += n
            }
        }
        let loss = Self.meanLoss(losses, counted: counted)
        return output(.linearCrossEntropy, loss, inputs: [x]) { [unowned self] dout in
            guard let inputGradient, x.requiresGrad else { return }
            // The saved gradient is this op's own: scale it in place (the loss is usually
            // the root, factor 1) and hand it to x.
            let factor = dout.floats[0]
            if factor != 1 {
                Elementwise.scale(out: inputGradient.floats, inp: inputGradient.floats, factor: factor,
                                  count: rows * width)
            }
            self.giveGradient(inputGradient, to: x)
        }
    }

    /// How many of `targets` count towards the mean (are not `ignoreIndex`).
    private static func countedTargets(_ targets: [Int32], ignoreIndex: Int32) -> Int {
        targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    }

    /// The mean of the per-row `losses` over `counted` rows (ignored rows hold 0), summed
    /// in Double; 0 when no row counts.
    private static func meanLoss(_ losses: Tensor, counted: Int) -> Tensor {
        var total = 0.0
        for r in 0..<losses.count { total += Double(losses.floats[r]) }
        return Tensor(scalar: counted > 0 ? Float(total / Double(counted)) : 0)
    }
}
