// Normalisations on the tape: `rmsNorm`, `layerNorm` and `softmax`, each over the last
// axis. The math and the saved values are documented on the kernels (Kernels/RMSNorm,
// Kernels/LayerNorm, Kernels/Softmax).

extension Tape {
    /// `y = x / sqrt(mean(x²) + eps) ⊙ (weight + weightOffset)` over the last axis.
    ///
    /// - Parameters:
    ///   - x: `[..., C]` (f32).
    ///   - weight: `[C]`, f32, or bf16 when frozen.
    ///   - eps: added to the mean square (`rms_norm_eps` in the model's configuration).
    ///   - weightOffset: added to the weight: 1 for Gemma (whose checkpoints store
    ///     `weight − 1`), 0 for Llama.
    ///   - roundedCopy: also write the output rounded to bf16 (``Variable/roundedBF16``),
    ///     for the products over bf16 weights that read it (saves a rounding pass each).
    /// - Returns: `[..., C]`.
    public func rmsNorm(_ x: Variable, weight: Variable, eps: Float, weightOffset: Float = 0,
                        roundedCopy: Bool = false) -> Variable {
        let dim = x.shape.last ?? 0
        precondition(dim > 0 && weight.shape == [dim], "rmsNorm: input \(x.shape) for weight \(weight.shape)")
        precondition(!weight.requiresGrad || weight.value.dtype == .f32, "trainable weights must be f32")
        let rows = x.value.count / dim
        let w = Tape.widened(weight.value)
        let out = Tensor(uninitialized: x.shape), rstd = Tensor(uninitialized: [rows])
        let rounded = roundedCopy ? Tensor(uninitialized: x.shape, dtype: .bf16) : nil
        RMSNorm.forward(out: out.floats, rounded: rounded?.halves, rstd: rstd.floats, inp: x.value.floats,
                        weight: w.floats, rows: rows, dim: dim, eps: eps, weightOffset: weightOffset)
        let input = x.value
        return output(.rmsNorm, out, rounded: rounded, inputs: [x, weight]) { dout in
            RMSNorm.backward(dinp: x.requiresGrad ? x.gradBuffer().floats : nil,
                             dweight: weight.requiresGrad ? weight.gradBuffer().floats : nil,
                             dout: dout.floats, inp: input.floats, weight: w.floats, rstd: rstd.floats,
                             rows: rows, dim: dim, weightOffset: weightOffset)
        }
    }

    /// `y = (x − mean) / sqrt(var + eps) ⊙ weight + bias` over the last axis (biased
    /// variance, as PyTorch's `layer_norm`).
    ///
    /// - Parameters:
    ///   - x: `[..., C]` (f32).
    ///   - weight: `[C]`, f32, or bf16 when frozen.
    ///   - bias: `[C]` (f32, or bf16 when frozen) or `nil`.
    ///   - eps: added to the variance (`layer_norm_eps`).
    /// - Returns: `[..., C]`.
    public func layerNorm(_ x: Variable, weight: Variable, bias: Variable?, eps: Float) -> Variable {
        let dim = x.shape.last ?? 0
        precondition(dim > 0 && weight.shape == [dim], "layerNorm: input \(x.shape) for weight \(weight.shape)")
        precondition(!weight.requiresGrad || weight.value.dtype == .f32, "trainable weights must be f32")
        if let bias {
            precondition(bias.shape == [dim], "layerNorm: bias \(bias.shape) for input \(x.shape)")
            precondition(!bias.requiresGrad || bias.value.dtype == .f32, "trainable biases must be f32")
        }
        let rows = x.value.count / dim
        let w = Tape.widened(weight.value), b = bias.map { Tape.widened($0.value) }
        let out = Tensor(zeros: x.shape), mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
        LayerNorm.forward(out: out.floats, mean: mean.floats, rstd: rstd.floats, inp: x.value.floats,
                          weight: w.floats, bias: b?.floats, rows: rows, dim: dim, eps: eps)
        let input = x.value
        return output(.layerNorm, out, inputs: [x, weight, bias]) { dout in
            LayerNorm.backward(dinp: x.requiresGrad ? x.gradBuffer().floats : nil,
                               dweight: weight.requiresGrad ? weight.gradBuffer().floats : nil,
                               dbias: bias?.requiresGrad == true ? bias?.gradBuffer().floats : nil,
                               dout: dout.floats, inp: input.floats, weight: w.floats,
                               mean: mean.floats, rstd: rstd.floats, rows: rows, dim: dim)
        }
    }

    /// Softmax over the last axis: `y[..., i] = exp(x[..., i]) / Σ_j exp(x[..., j])`,
    /// computed with the row maximum subtracted (finite for any finite input).
    ///
    /// - Parameter x: `[..., C]` (f32).
    /// - Returns: `[..., C]`, each row summing to 1.
    public func softmax(_ x: Variable) -> Variable {
        let dim = x.shape.last ?? 0
        precondition(dim > 0, "softmax of shape \(x.shape)")
        let rows = x.value.count / dim
        let out = Tensor(zeros: x.shape)
        Softmax.forward(out: out.floats, inp: x.value.floats, rows: rows, dim: dim)
        return output(.softmax, out, inputs: [x]) { dout in
            Softmax.backward(dinp: x.gradBuffer().floats, dout: dout.floats, out: out.floats, rows: rows, dim: dim)
        }
    }

    /// An f32 tensor with `tensor`'s values: itself when already f32, else a widened copy
    /// (norm weights are `[C]`, so the copy is cheap).
    private static func widened(_ tensor: Tensor) -> Tensor {
        tensor.dtype == .f32 ? tensor : tensor.converted(to: .f32)
    }
}
