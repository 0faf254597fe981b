/// Errors raised while creating, loading or saving an adapter.
///
/// Every case names the file (or option) and the field or tensor at fault, and
/// ``description`` says what to do next.
public enum AdapterError: Error, Equatable, CustomStringConvertible {
    /// A field of `adapter_config.json` (or `trimtab_config.json`) is missing, has the
    /// wrong type or is out of range. `file` is `nil` when the configuration did not come
    /// from a file.
    case invalidConfiguration(file: String?, field: String, reason: String)
    /// The directory holds an adapter of a method Trimtab does not implement.
    case unsupportedMethod(file: String, peftType: String)
    /// A file the adapter needs is absent.
    case missingFile(path: String, hint: String)
    /// `adapter_model.safetensors` lacks a tensor the method needs.
    case missingTensor(file: String, name: String)
    /// A tensor's shape does not follow from the configuration.
    case shapeMismatch(file: String, tensor: String, expected: [Int], got: [Int])
    /// The adapter was made for a model of another size.
    case modelMismatch(file: String?, field: String, adapter: Int, model: Int, reason: String)
    /// An option passed to ``makeAdapter(_:options:model:tokenizer:)`` cannot be used.
    case invalidOption(field: String, reason: String)
    /// Writing the adapter directory failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(file, field, reason):
            return "\(file ?? "adapter configuration"): field '\(field)' \(reason)"
        case let .unsupportedMethod(file, peftType):
            return "\(file): peft_type '\(peftType)' is not supported here "
                + "(supported: PROMPT_TUNING, P_TUNING, PREFIX_TUNING, LORA, IA3, BOTTLENECK, LN_TUNING, BITFIT, FULL)"
        case let .missingFile(path, hint):
            return "\(path) is missing: \(hint)"
        case let .missingTensor(file, name):
            return "\(file): tensor '\(name)' is missing (is this a PEFT adapter of the method its "
                + "adapter_config.json names, saved completely?)"
        case let .shapeMismatch(file, tensor, expected, got):
            return "\(file): tensor '\(tensor)' has shape \(got), but adapter_config.json implies \(expected)"
        case let .modelMismatch(file, field, adapter, model, reason):
            return "\(file ?? "adapter"): \(field) = \(adapter) does not fit the model (\(reason) is \(model)); "
                + "this adapter was trained for another base model"
        case let .invalidOption(field, reason):
            return "option '\(field)' \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write \(path): \(reason)"
        }
    }

    /// The same error, attributed to `file` (configuration errors raised while decoding
    /// do not know which file they came from).
    func inFile(_ file: String) -> AdapterError {
        switch self {
        case let .invalidConfiguration(nil, field, reason):
            return .invalidConfiguration(file: file, field: field, reason: reason)
        case let .modelMismatch(nil, field, adapter, model, reason):
            return .modelMismatch(file: file, field: field, adapter: adapter, model: model, reason: reason)
        default:
            return self
        }
    }
}
