/// Why a data set could not be read or encoded. Errors about one line name the file and
/// the 1-based line number; nothing is skipped silently.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// The file has no examples.
    case empty(file: String)
    /// A line is not valid JSON (or not UTF-8).
    case invalidJSON(file: String, line: Int, reason: String)
    /// A line is JSON but not an object.
    case notAnObject(file: String, line: Int)
    /// A line lacks a field its shape needs (`"completion"` next to `"prompt"`, …).
    case missingField(file: String, line: Int, field: String, shape: ExampleShape)
    /// A field has the wrong JSON type.
    case wrongType(file: String, line: Int, field: String, expected: String)
    /// A line's fields match none of the shapes.
    case unknownShape(file: String, line: Int, keys: [String])
    /// A line has another shape than the lines before it (or than the shape required).
    case mixedShapes(file: String, line: Int, expected: ExampleShape, found: ExampleShape)
    /// A classification line's label has no label word.
    case unknownLabel(file: String, line: Int, label: String, known: [String])
    /// After truncation to the maximum length no token of the example carries loss.
    case noLossTokens(file: String, line: Int, reason: String)
    /// A conversation the model's chat format cannot render with assistant-only loss.
    case unsupportedConversation(file: String, line: Int, reason: String)
    /// Chat data for a model whose tokenizer has no recognised chat template.
    case missingChatTemplate(file: String)
    /// A classification template or label-word setting is unusable.
    case invalidTaskFormat(String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .empty(file): return "\(file): no examples"
        case let .invalidJSON(file, line, reason): return "\(file):\(line): invalid JSON: \(reason)"
        case let .notAnObject(file, line): return "\(file):\(line): expected a JSON object"
        case let .missingField(file, line, field, shape):
            return "\(file):\(line): missing field \"\(field)\" (a \(shape) line)"
        case let .wrongType(file, line, field, expected):
            return "\(file):\(line): field \"\(field)\" must be \(expected)"
        case let .unknownShape(file, line, keys):
            return "\(file):\(line): unknown example shape with keys [\(keys.joined(separator: ", "))]; expected one of "
                + ExampleShape.allCases.map(\.description).joined(separator: ", ")
        case let .mixedShapes(file, line, expected, found):
            return "\(file):\(line): a \(found) line in a \(expected) data set"
        case let .unknownLabel(file, line, label, known):
            return "\(file):\(line): label \"\(label)\" has no label word (known: \(known.joined(separator: ", "))); "
                + "add it with --labels"
        case let .noLossTokens(file, line, reason): return "\(file):\(line): no token carries loss: \(reason)"
        case let .unsupportedConversation(file, line, reason): return "\(file):\(line): \(reason)"
        case let .missingChatTemplate(file):
            return "\(file): chat data needs a chat template, and the model's tokenizer has none Trimtab recognises"
        case let .invalidTaskFormat(reason): return reason
        }
    }
}
