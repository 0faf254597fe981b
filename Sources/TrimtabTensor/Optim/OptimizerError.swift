/// Errors raised when an optimizer is built from bad parameters or hyperparameters, or
/// when saved optimizer state does not fit the parameters it is loaded into.
public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    /// A parameter does not require a gradient (it would never be updated).
    case parameterNotTrainable(index: Int, name: String?)
    /// A parameter is not f32 (trainable parameters and their state are always f32).
    case parameterNotF32(index: Int, name: String?, dtype: DType)
    /// The same ``Variable`` appears twice in the parameter list (it would be stepped twice).
    case duplicateParameter(index: Int, name: String?)
    /// A hyperparameter is out of its valid range.
    case invalidHyperparameter(name: String, value: Double, reason: String)
    /// Saved state lacks a tensor this optimizer needs.
    case missingStateKey(String)
    /// Saved state holds a tensor this optimizer does not know (state of another
    /// optimizer, or of a different parameter list).
    case unexpectedStateKey(String)
    /// A saved tensor's shape differs from its parameter's.
    case stateShapeMismatch(key: String, expected: [Int], got: [Int])
    /// A saved step count is negative or not an integer.
    case invalidStepCount(key: String, value: Float)

    public var description: String {
        func label(_ index: Int, _ name: String?) -> String {
            name.map { "parameter \(index) (\($0))" } ?? "parameter \(index)"
        }
        switch self {
        case let .parameterNotTrainable(index, name):
            return "\(label(index, name)) does not require a gradient; pass only trainable parameters to the optimizer"
        case let .parameterNotF32(index, name, dtype):
            return "\(label(index, name)) is \(dtype); trainable parameters must be f32 (convert with .converted(to: .f32))"
        case let .duplicateParameter(index, name):
            return "\(label(index, name)) appears more than once in the parameter list"
        case let .invalidHyperparameter(name, value, reason):
            return "invalid \(name) \(value): \(reason)"
        case let .missingStateKey(key):
            return "optimizer state has no tensor \"\(key)\"; was it saved by the same optimizer over the same parameters?"
        case let .unexpectedStateKey(key):
            return "optimizer state holds an unknown tensor \"\(key)\"; was it saved by another optimizer or for other parameters?"
        case let .stateShapeMismatch(key, expected, got):
            return "optimizer state \"\(key)\": expected shape \(expected), got \(got); the parameters changed since it was saved"
        case let .invalidStepCount(key, value):
            return "optimizer state \"\(key)\": step count \(value) is not a non-negative integer"
        }
    }
}
