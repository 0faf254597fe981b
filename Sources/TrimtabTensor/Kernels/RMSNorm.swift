// Root-mean-square layer normalisation: Zhang & Sennrich, "Root Mean Square Layer
// Normalization" (2019), https://arxiv.org/abs/1910.07467. Reference implementations:
// Hugging Face `LlamaRMSNorm` (weightOffset 0) and `Gemma3RMSNorm` (weightOffset 1,
// the stored weight is a delta from one); PyTorch `torch.nn.functional.rms_norm`.

import CTrimtabKernels

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
    ///   - rounded: `[rows, dim]`, `y` rounded to bf16 (for products over bf16 weights
    ///     that read it), or `nil`.
    ///   - rstd: `[rows]` reciprocal root mean square per row, saved for backward.
    ///   - inp: `[rows, dim]` input `x`.
    ///   - weight: `[dim]` gain (the model's stored weight, before `weightOffset`).
    ///   - weightOffset: added to every weight (1 for Gemma, 0 for Llama).
    static func forward(out: UnsafeMutablePointer<Float>, rounded: UnsafeMutablePointer<UInt16>? = nil,
                        rstd: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        rows: Int, dim: Int, eps: Float, weightOffset: Float) {
        precondition(dim > 0 && rows >= 0, "RMSNorm over rows \(rows), dim \(dim)")
        Parallel.forRowChunks(rows, costPerRow: 2 * dim) { range in
            let start = range.lowerBound * dim
            trimtab_rmsnorm_forward(out + start, rounded.map { $0 + start }, rstd + range.lowerBound, inp + start,
                                    weight, range.count, dim, eps, weightOffset)
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
            let start = range.lowerBound * dim
            trimtab_rmsnorm_backward(dinp.map { $0 + start }, width > 0 ? partial : nil, dout + start, inp + start,
                                     weight, rstd + range.lowerBound, range.count, dim, weightOffset)
        }
        if let dweight {
            for i in 0..<dim { dweight[i] += Float(dweightSum[i]) }
        }
    }
}
