// Layer normalisation: Ba, Kiros & Hinton, "Layer Normalization" (2016),
// https://arxiv.org/abs/1607.06450. Reference implementations: PyTorch
// `torch.nn.functional.layer_norm`; llm.c `layernorm_forward` / `layernorm_backward`.

/// Forward and backward kernels of LayerNorm over rows of a `[rows, dim]` buffer.
///
///     mean[r] = mean_i x[r, i]
///     rstd[r] = 1 / sqrt(mean_i (x[r, i] − mean[r])² + eps)      (biased variance)
///     y[r, i] = (x[r, i] − mean[r]) · rstd[r] · w[i] + b[i]
///
/// Backward, with `n = (x − mean) · rstd` and `dn = dy ⊙ w`:
///
///     dx[r, i] += rstd[r] · (dn[r, i] − mean_j dn[r, j] − n[r, i] · mean_j(dn[r, j] n[r, j]))
///     dw[i]    += Σ_r dy[r, i] n[r, i]
///     db[i]    += Σ_r dy[r, i]
///
/// The variance is computed in two passes (mean first) with sums in Double, so a large
/// common offset in a row does not cancel away its variance. The forward saves `mean`
/// and `rstd` (f32) per row.
enum LayerNorm {
    /// - Parameters:
    ///   - out: `[rows, dim]` output `y` (overwritten).
    ///   - mean: `[rows]` row means, saved for backward.
    ///   - rstd: `[rows]` reciprocal standard deviations, saved for backward.
    ///   - inp: `[rows, dim]` input `x`.
    ///   - weight: `[dim]` gain.
    ///   - bias: `[dim]` or `nil`.
    static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                        rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        rows: Int, dim: Int, eps: Float) {
        precondition(dim > 0 && rows >= 0, "LayerNorm over rows \(rows), dim \(dim)")
        Parallel.forRows(rows, costPerRow: 3 * dim) { r in
            let x = inp + r * dim, y = out + r * dim
            var sum = 0.0
            for i in 0..<dim { sum += Double(x[i]) }
            let m = sum / Double(dim)
            var sumSquares = 0.0
            for i in 0..<dim {
                let d = Double(x[i]) - m
                sumSquares += d * d
            }
            let s = 1 / (sumSquares / Double(dim) + Double(eps)).squareRoot()
            mean[r] = Float(m)
            rstd[r] = Float(s)
            if let bias {
                for i in 0..<dim { y[i] = Float((Double(x[i]) - m) * s) * weight[i] + bias[i] }
            } else {
                for i in 0..<dim { y[i] = Float((Double(x[i]) - m) * s) * weight[i] }
            }
        }
    }

    /// Accumulates the gradients of
    /// ``forward(out:mean:rstd:inp:weight:bias:rows:dim:eps:)``.
    ///
    /// - Parameters:
    ///   - dinp: `[rows, dim]` gradient of the input, accumulated into; `nil` to skip.
    ///   - dweight: `[dim]` gradient of the gain, accumulated into; `nil` to skip.
    ///   - dbias: `[dim]` gradient of the bias, accumulated into; `nil` to skip.
    ///   - dout: `[rows, dim]` gradient of the output.
    ///   - inp: `[rows, dim]` the forward input.
    ///   - weight: `[dim]` the forward gain.
    ///   - mean, rstd: `[rows]` saved by the forward.
    static func backward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
                         dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                         inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int) {
        precondition(dim > 0 && rows >= 0, "LayerNorm over rows \(rows), dim \(dim)")
        if dinp == nil && dweight == nil && dbias == nil { return }
        // partial[0..<dim] sums dw, partial[dim..<2dim] sums db.
        let wantWeight = dweight != nil, wantBias = dbias != nil
        let width = wantWeight || wantBias ? 2 * dim : 0
        let sums = Parallel.sumOverRowChunks(rows, width: width, costPerRow: 4 * dim) { range, partial in
            for r in range {
                let x = inp + r * dim, dy = dout + r * dim
                let m = mean[r], s = rstd[r]
                if let dinp {
                    let dx = dinp + r * dim
                    var dnSum = 0.0, dnNormSum = 0.0
                    for j in 0..<dim {
                        let dn = Double(dy[j] * weight[j])
                        dnSum += dn
                        dnNormSum += dn * Double((x[j] - m) * s)
                    }
                    let dnMean = Float(dnSum / Double(dim)), dnNormMean = Float(dnNormSum / Double(dim))
                    for i in 0..<dim {
                        let n = (x[i] - m) * s
                        dx[i] += s * (dy[i] * weight[i] - dnMean - n * dnNormMean)
                    }
                }
                if wantWeight {
                    for i in 0..<dim { partial[i] += Double(dy[i] * ((x[i] - m) * s)) }
                }
                if wantBias {
                    let db = partial + dim
                    for i in 0..<dim { db[i] += Double(dy[i]) }
                }
            }
        }
        if let dweight {
            for i in 0..<dim { dweight[i] += Float(sums[i]) }
        }
        if let dbias {
            for i in 0..<dim { dbias[i] += Float(sums[dim + i]) }
        }
    }
}
