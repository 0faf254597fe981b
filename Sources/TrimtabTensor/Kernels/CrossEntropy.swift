import CTrimtabKernels
import Foundation

// Softmax cross-entropy against target ids, fused so the `[rows, vocab]` probabilities
// are never stored. Reference: PyTorch `torch.nn.functional.cross_entropy` with
// `ignore_index`; llm.c `crossentropy_forward` / `crossentropy_softmax_backward`.

/// Forward and backward kernels of softmax cross-entropy over rows of `[rows, vocab]`
/// logits, and per-token log-probabilities for evaluation.
///
/// For a row with target `t` (rows whose target is `ignoreIndex` are skipped):
///
///     m[r]      = max_j z[r, j]
///     sum[r]    = Σ_j exp(z[r, j] − m[r])
///     loss[r]   = m[r] + log sum[r] − z[r, t]       (= −log softmax(z)[t])
///     dz[r, j] += (exp(z[r, j] − m[r]) / sum[r] − [j = t]) · dloss[r]
///
/// The forward saves only `m` and `sum` (the logsumexp `m + log sum`, kept in two parts
/// so the backward's probabilities stay exact even for logits of magnitude 1e4); the
/// backward recomputes each row's softmax from them. Logits of a 49k vocabulary are
/// large; nothing of that size is saved.
public enum CrossEntropy {
    /// - Parameters:
    ///   - losses: `[rows]` `−log p(target)` per row, 0 for ignored rows (overwritten).
    ///   - rowMax: `[rows]` row maxima, saved for backward (0 for ignored rows).
    ///   - rowSum: `[rows]` `Σ exp(z − max)`, saved for backward (0 for ignored rows).
    ///   - logits: `[rows, vocab]`.
    ///   - targets: `[rows]` ids in `0..<vocab`, or `ignoreIndex`.
    static func forward(losses: UnsafeMutablePointer<Float>, rowMax: UnsafeMutablePointer<Float>,
                        rowSum: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                        targets: UnsafePointer<Int32>, rows: Int, vocab: Int, ignoreIndex: Int32) {
        precondition(vocab > 0 && rows >= 0, "cross-entropy over rows \(rows), vocab \(vocab)")
        Parallel.forRows(rows, costPerRow: 2 * vocab) { r in
            let target = targets[r]
            guard target != ignoreIndex else {
                losses[r] = 0; rowMax[r] = 0; rowSum[r] = 0
                return
            }
            precondition(target >= 0 && Int(target) < vocab,
                         "cross-entropy target \(target) at row \(r) outside 0..<\(vocab)")
            let z = logits + r * vocab
            let m = Softmax.rowMax(z, count: vocab)
            let sum = Softmax.sumExp(z, count: vocab, shift: m)
            rowMax[r] = m
            rowSum[r] = Float(sum)
            losses[r] = Float((Double(m) - Double(z[Int(target)])) + Foundation.log(sum))
        }
    }

    /// Accumulates the gradient of
    /// ``forward(losses:rowMax:rowSum:logits:targets:rows:vocab:ignoreIndex:)``.
    ///
    /// - Parameters:
    ///   - dlogits: `[rows, vocab]` gradient of the logits, accumulated into (ignored rows
    ///     are left untouched).
    ///   - dloss: the gradient of each counted row's loss (1 / counted rows for a mean).
    ///   - logits: `[rows, vocab]` the forward's logits.
    ///   - rowMax, rowSum: `[rows]` saved by the forward.
    ///   - targets: `[rows]` as in the forward.
    static func backward(dlogits: UnsafeMutablePointer<Float>, dlosses: UnsafePointer<Float>,
                         logits: UnsafePointer<Float>, rowMax: UnsafePointer<Float>,
                         rowSum: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                         rows: Int, vocab: Int, ignoreIndex: Int32) {
        precondition(vocab > 0 && rows >= 0, "cross-entropy over rows \(rows), vocab \(vocab)")
        Parallel.forRows(rows, costPerRow: 3 * vocab) { r in
            let target = targets[r]
            let dloss = dlosses[r]
            guard target != ignoreIndex, dloss != 0 else { return }
            let dz = dlogits + r * vocab
            // p_j · dloss = exp(z_j − m) · (dloss / sum)
            Softmax.accumulateExp(logits + r * vocab, count: vocab, shift: rowMax[r],
                                  scale: Float(Double(dloss) / Double(rowSum[r])), into: dz)
            dz[Int(target)] -= dloss
        }
    }

    /// The losses and, in place of the logits, their gradient, for a loss that ends the
    /// graph (its gradient is known in the forward): per counted row, `dz = dloss · softmax(z)`
    /// and `dz[t] −= dloss`, in C (`trimtab_scaled_softmax_row`). A row of a 49k
    /// vocabulary (192 KB) stays in cache between its passes, so the logits are read from
    /// memory once and no second `[rows, vocab]` buffer is needed.
    ///
    /// - Parameters:
    ///   - losses: `[rows]` `−log p(target)` per row, 0 for ignored rows (overwritten).
    ///   - logits: `[rows, vocab]` logits in, their gradient out (zero in ignored rows).
    ///   - dloss: the gradient of each counted row's loss (1 / counted rows for a mean).
    ///   - targets: `[rows]` ids in `0..<vocab`, or `ignoreIndex`.
    static func forwardWithGradient(losses: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>,
                                    dloss: Float, targets: UnsafePointer<Int32>,
                                    rows: Int, vocab: Int, ignoreIndex: Int32) {
        precondition(vocab > 0 && rows >= 0, "cross-entropy over rows \(rows), vocab \(vocab)")
        Parallel.forRows(rows, costPerRow: 3 * vocab) { r in
            let z = logits + r * vocab
            let target = targets[r]
            guard target != ignoreIndex else {
                losses[r] = 0
                z.update(repeating: 0, count: vocab)
                return
            }
            precondition(target >= 0 && Int(target) < vocab,
                         "cross-entropy target \(target) at row \(r) outside 0..<\(vocab)")
            let targetLogit = z[Int(target)]
            let logSumExp = trimtab_scaled_softmax_row(z, vocab, vocab, dloss)
            losses[r] = Float(Double(logSumExp) - Double(targetLogit))
            z[Int(target)] -= dloss
        }
    }

    /// `log p(target)` under `softmax(logits)` for each row, without a tape (evaluation,
    /// rank classification).
    ///
    /// - Parameters:
    ///   - logits: `[rows, vocab]`.
    ///   - targets: `rows` ids in `0..<vocab`, or `ignoreIndex`.
    /// - Returns: `rows` log-probabilities (≤ 0); rows whose target is `ignoreIndex` give 0.
    public static func tokenLogProbabilities(logits: UnsafePointer<Float>, targets: [Int32], rows: Int,
                                             vocab: Int, ignoreIndex: Int32 = -100) -> [Float] {
        precondition(targets.count == rows, "\(targets.count) targets for \(rows) rows")
        var losses = [Float](repeating: 0, count: rows)
        var stats = [Float](repeating: 0, count: 2 * rows)
        targets.withUnsafeBufferPointer { t in
            losses.withUnsafeMutableBufferPointer { l in
                stats.withUnsafeMutableBufferPointer { s in
                    guard let tBase = t.baseAddress, let lBase = l.baseAddress, let sBase = s.baseAddress else { return }
                    forward(losses: lBase, rowMax: sBase, rowSum: sBase + rows, logits: logits,
                            targets: tBase, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex)
                }
            }
        }
        return losses.map { $0 == 0 ? 0 : -$0 }
    }
}
