/// Updates trainable parameters from their accumulated gradients.
///
/// An optimizer owns a fixed, ordered list of f32 parameters that require gradients and
/// the per-parameter state it needs (moments, momentum buffers, step counts). A call of
/// ``step()`` updates every parameter whose `grad` is set; a parameter whose `grad` is
/// `nil` is skipped that step and its state does not advance, exactly as in PyTorch.
/// Set ``learningRate`` before each step to follow a schedule (see ``LRSchedule``).
///
/// State is saved and restored for exact resumption with ``stateTensors()`` and
/// ``loadState(_:step:)``; keys follow PyTorch's `optimizer.state_dict()["state"]`,
/// `"<parameter index>.<name>"`, e.g. `"0.exp_avg"`, `"0.step"`.
public protocol Optimizer: AnyObject {
    /// The parameters this optimizer updates, in the order their state is numbered.
    var parameters: [Variable] { get }
    /// The learning rate the next ``step()`` uses.
    var learningRate: Float { get set }
    /// How many times ``step()`` has been called (restored by ``loadState(_:step:)``).
    var stepCount: Int { get }
    /// Updates every parameter that has a gradient.
    func step()
    /// Drops every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    func zeroGrad()
    /// Copies of the optimizer's state tensors, keyed `"<parameter index>.<name>"`.
    ///
    /// Every parameter has an entry `"<i>.step"`, a scalar f32 tensor holding how many
    /// updates that parameter has received, plus the optimizer's own tensors (f32, the
    /// parameter's shape).
    func stateTensors() -> [String: Tensor]
    /// Replaces the optimizer's state with `state` (as written by ``stateTensors()``) and
    /// sets ``stepCount`` to `step`.
    ///
    /// - Throws: ``OptimizerError`` naming a missing or unknown key or a wrong shape; the
    ///   optimizer is unchanged when it throws.
    func loadState(_ state: [String: Tensor], step: Int) throws
}

// MARK: - Default implementations

extension Optimizer {
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGrad() }
    }
}

// MARK: - Shared helpers

/// Smallest number of elements per thread in the update loops.
let optimizerGrain = 1 << 15

/// Throws unless every parameter is a distinct, f32 variable that requires a gradient.
func validateParameters(_ parameters: [Variable]) throws {
    var seen = Set<ObjectIdentifier>()
    for (index, parameter) in parameters.enumerated() {
        guard parameter.requiresGrad else {
            throw OptimizerError.parameterNotTrainable(index: index, name: parameter.name)
        }
        guard parameter.value.dtype == .f32 else {
            throw OptimizerError.parameterNotF32(index: index, name: parameter.name, dtype: parameter.value.dtype)
        }
        guard seen.insert(ObjectIdentifier(parameter)).inserted else {
            throw OptimizerError.duplicateParameter(index: index, name: parameter.name)
        }
    }
}

/// Throws unless `value` is finite and `valid` holds.
func requireHyperparameter(_ name: String, _ value: Double, _ reason: String, _ valid: Bool) throws {
    guard value.isFinite, valid else {
        throw OptimizerError.invalidHyperparameter(name: name, value: value, reason: reason)
    }
}

/// Reads saved optimizer state for `parameters`, checking it completely before anything
/// is changed.
///
/// `tensorNames` are the per-parameter tensors (besides `"step"`) the optimizer keeps;
/// each must be present with its parameter's shape. Returns the per-parameter step
/// counts and, per name, the tensors in parameter order, converted to f32 copies.
func readOptimizerState(_ state: [String: Tensor], parameters: [Variable],
                        tensorNames: [String]) throws -> (steps: [Int], tensors: [String: [Tensor]]) {
    var expected = Set<String>()
    var steps: [Int] = []
    var tensors: [String: [Tensor]] = [:]
    for (index, parameter) in parameters.enumerated() {
        let stepKey = "\(index).step"
        expected.insert(stepKey)
        guard let stepTensor = state[stepKey] else { throw OptimizerError.missingStateKey(stepKey) }
        guard stepTensor.count == 1 else {
            throw OptimizerError.stateShapeMismatch(key: stepKey, expected: [], got: stepTensor.shape)
        }
        let value = stepTensor.scalars[0]
        guard value >= 0, value.rounded() == value, value < 16_777_216 else {
            throw OptimizerError.invalidStepCount(key: stepKey, value: value)
        }
        steps.append(Int(value))
        for name in tensorNames {
            let key = "\(index).\(name)"
            expected.insert(key)
            guard let tensor = state[key] else { throw OptimizerError.missingStateKey(key) }
            guard tensor.shape == parameter.shape else {
                throw OptimizerError.stateShapeMismatch(key: key, expected: parameter.shape, got: tensor.shape)
            }
            tensors[name, default: []].append(tensor.converted(to: .f32))
        }
    }
    if let unknown = state.keys.filter({ !expected.contains($0) }).sorted().first {
        throw OptimizerError.unexpectedStateKey(unknown)
    }
    return (steps, tensors)
}

/// A scalar f32 tensor holding a step count.
func stepTensor(_ step: Int) -> Tensor {
    Tensor(scalar: Float(step))
}

/// Runs `body(i, n)` over `count` elements in SIMD8 blocks: full blocks are handed the
/// element index of the block; the ragged tail is handed its index and length `< 8`.
/// Ranges are split across threads for large tensors.
@inline(__always)
func forEachBlock(_ count: Int, _ body: (_ index: Int, _ length: Int) -> Void) {
    Parallel.forChunks(count, grain: optimizerGrain) { range in
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            body(i, 8)
            i += 8
        }
        if i < range.upperBound { body(i, range.upperBound - i) }
    }
}

/// Loads `length ≤ 8` floats from `pointer`, padding with `pad`.
@inline(__always)
func loadBlock(_ pointer: UnsafeMutablePointer<Float>, _ length: Int, pad: Float = 0) -> SIMD8<Float> {
    if length == 8 { return UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self) }
    var v = SIMD8<Float>(repeating: pad)
    for lane in 0..<length { v[lane] = pointer[lane] }
    return v
}

/// Stores the first `length ≤ 8` lanes of `value` at `pointer`.
@inline(__always)
func storeBlock(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>, _ length: Int) {
    if length == 8 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD8<Float>.self)
        return
    }
    for lane in 0..<length { pointer[lane] = value[lane] }
}
