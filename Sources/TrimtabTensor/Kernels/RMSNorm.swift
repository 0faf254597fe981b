// Root-mean-square layer normalisation: Zhang & Sennrich, "Root Mean Square Layer
// Normalization" (2019), https://arxiv.org/abs/1910.07467. Reference implementations:
// Hugging Face `LlamaRMSNorm` (weightOffset 0) and `Gemma3RMSNorm` (weightOffset 1,
// the stored weight is a delta from one); PyTorch `torch.nn.functional.rms_norm`.

/// Forward and backward kernels of RMSNorm over rows of a `[rows, dim]` buffer.
///
/// With `g = weight + weightOffset`:
///
///     rstd[r] = 1 / sqrt(mean_i x[r, i]² + eps)
///     y[r, i] = x[r, i] · rstd[r] · g[i]
///
/// Backward, with `n = x · rstd` (the normalised input):
///
///     dx[r, i] += rstd[r] · (dy[r, i] g[i] − n[r, i] · mean_j(dy[r, j] g[j] n[r, j]))
///     dw[i]    += Σ_r dy[r, i] n[r, i]
///
/// Row sums are taken in Double. The forward saves only `rstd` (one value per row).
enum RMSNorm {
    /// - Parameters:
    ///   - out: `[rows, dim]` output `y` (overwritten).
    ///   - rstd: `[rows]` reciprocal root mean square per row, saved for backward.
    ///   - inp: `[rows, dim]` input `x`.
    ///   - weight: `[dim]` gain (the model's stored weight, before `weightOffset`).
    ///   - weightOffset: added to every weight (1 for Gemma, 0 for Llama).
    static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        rows: Int, dim: Int, eps: Float, weightOffset: Float) {
        precondition(dim > 0 && rows >= 0, "RMSNorm over rows \(rows), dim \(dim)")
        Parallel.forRows(rows, costPerRow: 2 * dim) { r in
            let x = inp + r * dim, y = out + r * dim
            var sumSquares = 0.0
            for i in 0..<dim {
                let v = Double(x[i])
                sumSquares += v * v
            }
            let s = Float(1 / (sumSquares / Double(dim) + Double(eps)).squareRoot())
            rstd[r] = s
            for i in 0..<dim { y[i] = (x[i] * s) * (weight[i] + weightOffset) }
        }
    }

    /// Accumulates the gradients of ``forward(out:rstd:inp:weight:rows:dim:eps:weightOffset:)``.
    ///
    /// - Parameters:
    ///   - dinp: `[rows, dim]` gradient of the input, accumulated into; `nil` to skip.
    ///   - dweight: `[dim]` gradient of the weight, accumulated into; `nil` to skip.
    ///   - dout: `[rows, dim]` gradient of the output.
    ///   - inp: `[rows, dim]` the forward input.
    ///   - weight: `[dim]` the forward weight (before `weightOffset`).
    ///   - rstd: `[rows]` saved by the forward.
    static func backward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
                         dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         rows: Int, dim: Int, weightOffset: Float) {
        precondition(dim > 0 && rows >= 0, "RMSNorm over rows \(rows), dim \(dim)")
        if dinp == nil && dweight == nil { return }
        let width = dweight == nil ? 0 : dim
        let dweightSum = Parallel.sumOverRowChunks(rows, width: width, costPerRow: 3 * dim) { range, partial in
            for r in range {
                let x = inp + r * dim, dy = dout + r * dim, s = rstd[r]
                if let dinp {
                    let dx = dinp + r * dim
                    var dot = 0.0  // Σ_j dy_j g_j x_j
                    for j in 0..<dim {
                        dot += Double(dy[j]) * Double(weight[j] + weightOffset) * Double(x[j])
                    }
                    // rstd · n_i · mean_j(dy g n) = rstd · x_i · (rstd² Σ_j dy_j g_j x_j / dim)
                    let c = Float(Double(s) * Double(s) * dot / Double(dim))
                    for i in 0..<dim { dx[i] += s * (dy[i] * (weight[i] + weightOffset) - x[i] * c) }
                }
                if width > 0 {
                    for i in 0..<dim { partial[i] += Double(dy[i] * (x[i] * s)) }
                }
            }
        }
        if let dweight {
            for i in 0..<dim { dweight[i] += Float(dweightSum[i]) }
        }
    }
}
