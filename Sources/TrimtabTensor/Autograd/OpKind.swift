/// The closed set of differentiable operations.
///
/// Every op has a forward kernel, a backward kernel and a finite-difference gradient
/// check in the test suite (`OpGradientTests` checks that each case is covered). Adding
/// a case means adding all three.
public enum OpKind: String, CaseIterable, Sendable {
    /// Batched matrix product with transposes as flags.
    case matmul
    /// `x · Wᵀ (+ b)`: the projection every linear layer uses.
    case linear
    /// Elementwise sum of two same-shaped tensors (residual connections).
    case add
    /// Adds a bias vector broadcast over leading dimensions.
    case addBias
    /// Elementwise product of two same-shaped tensors.
    case mul
    /// Multiplies by a constant.
    case scale
    /// Rows of an embedding table picked by token id.
    case embedding
    /// Concatenation along the sequence axis of `[B, T, C]` tensors.
    case concatSequence
    /// A view with another shape (gradient passes through).
    case reshape
    /// Root-mean-square normalisation with a learned gain.
    case rmsNorm
    /// Layer normalisation with learned gain and bias.
    case layerNorm
    /// Rotary position embeddings (rotate-half or interleaved layout).
    case rope
    /// Causal (or bidirectional) multi-head attention with grouped-query heads,
    /// a padding mask and optional prefix key/value rows.
    case attention
    /// `x · sigmoid(x)`.
    case silu
    /// Gaussian error linear unit (tanh approximation or exact erf).
    case gelu
    /// `silu(gate) · up` over the two halves of the FFN.
    case swiglu
    /// `max(x, 0)`.
    case relu
    /// The hyperbolic tangent.
    case tanh
    /// The logistic function `1 / (1 + e⁻ˣ)`.
    case sigmoid
    /// Softmax over the last axis.
    case softmax
    /// Softmax cross-entropy against target ids, mean over counted positions.
    case crossEntropy
    /// Cross-entropy of `x · Wᵀ` computed in row chunks, for a frozen `W` (the output
    /// projection and loss of a language model, without holding every logit).
    case linearCrossEntropy
    /// Inverted dropout with a seeded mask.
    case dropout
}
