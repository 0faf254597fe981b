import Foundation

/// Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
/// Regularization", ICLR 2019), computed exactly as `torch.optim.AdamW`
/// (`torch/optim/adam.py`, `_single_tensor_adam` with `decoupled_weight_decay=True`).
///
/// For each parameter `p` with gradient `g`, after its own step count `t` is advanced:
///
///     p ← p · (1 − lr·λ)
///     m ← m + (1 − β₁)(g − m)                  (torch: exp_avg.lerp_(g, 1 − β₁))
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// ε is added after the square root of the bias-corrected second moment, as in torch.
/// The hyperparameters are Doubles and the scalar coefficients are computed in Double,
/// as torch does with Python floats (`1 − β₂` from an f32 β₂ = 0.999 would be off by
/// 1e-5 relative); the elementwise update runs in f32, one fused SIMD loop per parameter,
/// split across threads for large tensors. Moments are f32 tensors allocated (zeroed)
/// when the optimizer is built, which is equivalent to torch's lazy initialisation.
public final class AdamW: Optimizer {
    /// The parameters, in state order.
    public let parameters: [Variable]
    /// The learning rate of the next step.
    public var learningRate: Float
    /// Exponential decay of the first moment (β₁).
    public let beta1: Double
    /// Exponential decay of the second moment (β₂).
    public let beta2: Double
    /// Added to the denominator for numerical stability (ε).
    public let eps: Double
    /// Decoupled weight decay coefficient (λ); each step multiplies `p` by `1 − lr·λ`.
    public let weightDecay: Double
    /// How many times ``step()`` has been called.
    public private(set) var stepCount = 0

    /// First moments (torch `exp_avg`), one per parameter.
    private var expAvg: [Tensor]
    /// Second moments (torch `exp_avg_sq`), one per parameter.
    private var expAvgSq: [Tensor]
    /// Per-parameter step counts (torch `state[p]["step"]`): a parameter without a
    /// gradient in some step does not advance.
    private var parameterSteps: [Int]

    /// Builds an AdamW optimizer over `parameters` (f32, requiring gradients, distinct).
    ///
    /// Defaults are torch's, including `weightDecay: 0.01`.
    /// - Throws: ``OptimizerError`` for a bad parameter or a hyperparameter out of range
    ///   (`lr ≥ 0`, `0 ≤ β < 1`, `ε ≥ 0`, `λ ≥ 0`).
    public init(parameters: [Variable], learningRate: Float, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0.01) throws {
        try validateParameters(parameters)
        try requireHyperparameter("learningRate", Double(learningRate), "must be ≥ 0", learningRate >= 0)
        try requireHyperparameter("beta1", beta1, "must be in [0, 1)", beta1 >= 0 && beta1 < 1)
        try requireHyperparameter("beta2", beta2, "must be in [0, 1)", beta2 >= 0 && beta2 < 1)
        try requireHyperparameter("eps", eps, "must be ≥ 0", eps >= 0)
        try requireHyperparameter("weightDecay", weightDecay, "must be ≥ 0", weightDecay >= 0)
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        expAvg = parameters.map { Tensor(zeros: $0.shape) }
        expAvgSq = parameters.map { Tensor(zeros: $0.shape) }
        parameterSteps = Array(repeating: 0, count: parameters.count)
    }

    /// Applies one AdamW update to every parameter that has a gradient.
    public func step() {
        stepCount += 1
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            let value = parameter.value
            precondition(value.dtype == .f32 && grad.dtype == .f32 && grad.shape == value.shape,
                         "AdamW: parameter \(index) is \(value.dtype) \(value.shape), gradient \(grad.dtype) \(grad.shape)")
            precondition(expAvg[index].shape == value.shape,
                         "AdamW: parameter \(index) changed shape from \(expAvg[index].shape) to \(value.shape)")
            parameterSteps[index] += 1
            let t = Double(parameterSteps[index])
            let lr = Double(learningRate), b1 = beta1, b2 = beta2
            let biasCorrection1 = 1 - pow(b1, t)
            let biasCorrection2 = 1 - pow(b2, t)
            let coefficients = AdamWCoefficients(
                decay: Float(1 - lr * weightDecay),
                weight1: Float(1 - b1),
                beta2: Float(beta2),
                weight2: Float(1 - b2),
                negativeStepSize: Float(-(lr / biasCorrection1)),
                biasCorrection2Sqrt: Float(biasCorrection2.squareRoot()),
                eps: Float(eps),
                applyDecay: weightDecay != 0)
            adamwUpdate(param: value.floats, grad: grad.floats, expAvg: expAvg[index].floats,
                        expAvgSq: expAvgSq[index].floats, count: value.count, coefficients)
        }
    }

    /// Copies of `"<i>.step"`, `"<i>.exp_avg"`, `"<i>.exp_avg_sq"` for every parameter.
    public func stateTensors() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for index in parameters.indices {
            state["\(index).step"] = stepTensor(parameterSteps[index])
            state["\(index).exp_avg"] = expAvg[index].copy()
            state["\(index).exp_avg_sq"] = expAvgSq[index].copy()
        }
        return state
    }

    /// Restores state written by ``stateTensors()`` (copied, not shared).
    public func loadState(_ state: [String: Tensor], step: Int) throws {
        guard step >= 0 else { throw OptimizerError.invalidStepCount(key: "step", value: Float(step)) }
        let saved = try readOptimizerState(state, parameters: parameters, tensorNames: ["exp_avg", "exp_avg_sq"])
        parameterSteps = saved.steps
        expAvg = saved.tensors["exp_avg"] ?? []
        expAvgSq = saved.tensors["exp_avg_sq"] ?? []
        stepCount = step
    }
}

// MARK: - Kernel

/// The per-step scalars of one parameter's AdamW update, in f32 as torch applies them.
struct AdamWCoefficients {
    /// `1 − lr·λ`.
    var decay: Float
    /// `1 − β₁`, the lerp weight of the first moment.
    var weight1: Float
    /// `β₂`.
    var beta2: Float
    /// `1 − β₂`.
    var weight2: Float
    /// `−lr / (1 − β₁ᵗ)`.
    var negativeStepSize: Float
    /// `√(1 − β₂ᵗ)`.
    var biasCorrection2Sqrt: Float
    /// `ε`.
    var eps: Float
    /// Whether λ ≠ 0 (torch skips the multiply when it is 0).
    var applyDecay: Bool
}

/// One AdamW update in place.
///
///     param, grad, expAvg, expAvgSq: (count,)
///
/// Per element, in torch's operation order and with its fused multiply-adds (ATen's
/// vectorised `lerp` and `addcmul`), so results agree with torch bit for bit:
/// `p *= decay`; `m = lerp(m, g, w₁)` = `fma(w₁, g − m, m)` for `w₁ < 0.5`, else
/// `fma(w₁ − 1, g − m, g)`; `v = fma(w₂·g, g, v·β₂)`; `p += (−stepSize·m) / (√v / √bc₂ + ε)`.
func adamwUpdate(param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>,
                 expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>,
                 count: Int, _ c: AdamWCoefficients) {
    let smallWeight = c.weight1 < 0.5
    let weight1MinusOne = c.weight1 - 1
    forEachBlock(count) { i, n in
        var p = loadBlock(param + i, n)
        let g = loadBlock(grad + i, n)
        var m = loadBlock(expAvg + i, n)
        var v = loadBlock(expAvgSq + i, n)
        if c.applyDecay { p = p * c.decay }
        let diff = g - m
        m = smallWeight ? m.addingProduct(c.weight1, diff) : g.addingProduct(weight1MinusOne, diff)
        v = (v * c.beta2).addingProduct(c.weight2 * g, g)
        let denominator = v.squareRoot() / c.biasCorrection2Sqrt + c.eps
        p = p + (c.negativeStepSize * m) / denominator
        storeBlock(p, param + i, n)
        storeBlock(m, expAvg + i, n)
        storeBlock(v, expAvgSq + i, n)
    }
}
