/// Errors raised where tensors cross an API edge (user code, files, the CLI).
///
/// Kernels check their own invariants with `precondition`; these errors are for input
/// that comes from outside and can be wrong.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// `values.count` does not match the product of `shape`.
    case elementCountMismatch(shape: [Int], count: Int)
    /// An operation was given a tensor of the wrong shape.
    case shapeMismatch(operation: String, expected: [Int], got: [Int])
    /// An operation needs a different element type.
    case dtypeMismatch(operation: String, expected: DType, got: DType)
    /// A shape has a negative dimension.
    case invalidShape([Int])

    public var description: String {
        switch self {
        case let .elementCountMismatch(shape, count):
            return "shape \(shape) holds \(shape.reduce(1, *)) elements, but \(count) values were given"
        case let .shapeMismatch(operation, expected, got):
            return "\(operation): expected shape \(expected), got \(got)"
        case let .dtypeMismatch(operation, expected, got):
            return "\(operation): expected \(expected) elements, got \(got)"
        case let .invalidShape(shape):
            return "invalid shape \(shape): dimensions must be non-negative"
        }
    }
}
