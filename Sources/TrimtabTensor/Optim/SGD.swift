/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
/// (coupled, L2) weight decay, computed exactly as `torch.optim.SGD`
/// (`torch/optim/sgd.py`, `_single_tensor_sgd`).
///
/// For each parameter `p` with gradient `g`:
///
///     g ← g + λ·p                                  (if λ ≠ 0)
///     b ← g on the parameter's first step, else μ·b + (1 − τ)·g      (if μ ≠ 0)
///     g ← g + μ·b if Nesterov, else b                                 (if μ ≠ 0)
///     p ← p − lr·g
///
/// with weight decay λ, momentum μ and dampening τ. The momentum buffer is f32, one per
/// parameter, allocated when the optimizer is built (only if μ ≠ 0).
public final class SGD: Optimizer {
    /// The parameters, in state order.
    public let parameters: [Variable]
    /// The learning rate of the next step.
    public var learningRate: Float
    /// Momentum factor (μ); 0 disables momentum.
    public let momentum: Double
    /// Dampening of the gradient added to the momentum buffer (τ).
    public let dampening: Double
    /// L2 penalty added to the gradient (λ).
    public let weightDecay: Double
    /// Whether to use Nesterov momentum.
    public let nesterov: Bool
    /// How many times ``step()`` has been called.
    public private(set) var stepCount = 0

    /// Momentum buffers (torch `momentum_buffer`), one per parameter; empty if μ = 0.
    private var momentumBuffer: [Tensor]
    /// Per-parameter step counts; 0 means the momentum buffer is not yet initialised.
    private var parameterSteps: [Int]

    /// Builds an SGD optimizer over `parameters` (f32, requiring gradients, distinct).
    ///
    /// - Throws: ``OptimizerError`` for a bad parameter or hyperparameter (`lr, μ, τ, λ ≥
    ///   0`; Nesterov needs μ > 0 and τ = 0, as in torch).
    public init(parameters: [Variable], learningRate: Float, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) throws {
        try validateParameters(parameters)
        try requireHyperparameter("learningRate", Double(learningRate), "must be ≥ 0", learningRate >= 0)
        try requireHyperparameter("momentum", momentum, "must be ≥ 0", momentum >= 0)
        try requireHyperparameter("dampening", dampening, "must be ≥ 0", dampening >= 0)
        try requireHyperparameter("weightDecay", weightDecay, "must be ≥ 0", weightDecay >= 0)
        if nesterov {
            try requireHyperparameter("momentum", momentum, "Nesterov momentum needs momentum > 0", momentum > 0)
            try requireHyperparameter("dampening", dampening, "Nesterov momentum needs zero dampening", dampening == 0)
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffer = momentum != 0 ? parameters.map { Tensor(zeros: $0.shape) } : []
        parameterSteps = Array(repeating: 0, count: parameters.count)
    }

    /// Applies one SGD update to every parameter that has a gradient.
    public func step() {
        stepCount += 1
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            let value = parameter.value
            precondition(value.dtype == .f32 && grad.dtype == .f32 && grad.shape == value.shape,
                         "SGD: parameter \(index) is \(value.dtype) \(value.shape), gradient \(grad.dtype) \(grad.shape)")
            let buffer = momentum != 0 ? momentumBuffer[index] : nil
            precondition(buffer.map { $0.shape == value.shape } ?? true,
                         "SGD: parameter \(index) changed shape to \(value.shape)")
            let coefficients = SGDCoefficients(
                weightDecay: Float(weightDecay),
                momentum: Float(momentum),
                bufferWeight: Float(1 - dampening),
                negativeLearningRate: -learningRate,
                nesterov: nesterov,
                firstStep: parameterSteps[index] == 0)
            parameterSteps[index] += 1
            sgdUpdate(param: value.floats, grad: grad.floats, momentumBuffer: buffer?.floats,
                      count: value.count, coefficients)
        }
    }

    /// Copies of `"<i>.step"` and, with momentum, `"<i>.momentum_buffer"` for every
    /// parameter.
    public func stateTensors() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for index in parameters.indices {
            state["\(index).step"] = stepTensor(parameterSteps[index])
            if momentum != 0 { state["\(index).momentum_buffer"] = momentumBuffer[index].copy() }
        }
        return state
    }

    /// Restores state written by ``stateTensors()`` (copied, not shared).
    public func loadState(_ state: [String: Tensor], step: Int) throws {
        guard step >= 0 else { throw OptimizerError.invalidStepCount(key: "step", value: Float(step)) }
        let names = momentum != 0 ? ["momentum_buffer"] : []
        let saved = try readOptimizerState(state, parameters: parameters, tensorNames: names)
        parameterSteps = saved.steps
        momentumBuffer = saved.tensors["momentum_buffer"] ?? []
        stepCount = step
    }
}

// MARK: - Kernel

/// The scalars of one parameter's SGD update.
struct SGDCoefficients {
    /// λ (0 skips the decay term).
    var weightDecay: Float
    /// μ (0 means no momentum buffer).
    var momentum: Float
    /// `1 − τ`, the weight of the gradient added to the buffer.
    var bufferWeight: Float
    /// `−lr`.
    var negativeLearningRate: Float
    /// Whether to use Nesterov momentum.
    var nesterov: Bool
    /// Whether the buffer is initialised from the gradient (the parameter's first step).
    var firstStep: Bool
}

/// One SGD update in place.
///
///     param, grad, momentumBuffer: (count,)   (momentumBuffer nil iff μ = 0)
///
/// Per element: `d = g + λ·p`; with momentum `b = firstStep ? d : b·μ + (1 − τ)·d` and
/// `d = nesterov ? d + μ·b : b`; then `p += −lr·d`. Every `x + α·y` is one fused
/// multiply-add, as in torch's vectorised `add(…, alpha:)`. The gradient is read, never
/// written.
func sgdUpdate(param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>,
               momentumBuffer: UnsafeMutablePointer<Float>?, count: Int, _ c: SGDCoefficients) {
    forEachBlock(count) { i, n in
        var p = loadBlock(param + i, n)
        var d = loadBlock(grad + i, n)
        if c.weightDecay != 0 { d = d.addingProduct(c.weightDecay, p) }
        if let momentumBuffer {
            var b = d
            if !c.firstStep {
                b = (loadBlock(momentumBuffer + i, n) * c.momentum).addingProduct(c.bufferWeight, d)
            }
            storeBlock(b, momentumBuffer + i, n)
            d = c.nesterov ? d.addingProduct(c.momentum, b) : b
        }
        p = p.addingProduct(c.negativeLearningRate, d)
        storeBlock(p, param + i, n)
    }
}
