/// Errors raised while building a model from a checkpoint.
public enum ModelError: Error, CustomStringConvertible {
    /// The checkpoint lacks a tensor the architecture needs.
    case missingWeight(name: String, source: String)
    /// A tensor has a different shape than the configuration implies.
    case shapeMismatch(name: String, expected: [Int], got: [Int], source: String)
    /// A configuration field is missing or out of range.
    case invalidConfiguration(field: String, reason: String, source: String)
    /// The checkpoint declares an architecture Trimtab does not implement.
    case unsupportedArchitecture(String, source: String)

    public var description: String {
        switch self {
        case let .missingWeight(name, source):
            return "\(source): missing tensor '\(name)' (is this the right architecture, or a truncated checkpoint?)"
        case let .shapeMismatch(name, expected, got, source):
            return "\(source): tensor '\(name)' has shape \(got), but the configuration implies \(expected)"
        case let .invalidConfiguration(field, reason, source):
            return "\(source): configuration field '\(field)' \(reason)"
        case let .unsupportedArchitecture(name, source):
            return "\(source): architecture '\(name)' is not supported (supported: llama, mistral, qwen2, smollm2 (llama), gpt2)"
        }
    }
}
