import Foundation

/// Why a tokenizer could not be built.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// `tokenizer.json` names a component (normalizer, pre-tokenizer, model, post-processor,
    /// decoder) that TrimtabText does not implement.
    case unsupportedComponent(kind: String, type: String)
    /// A required field is missing or has the wrong type (`path` is a JSON path like `model.vocab`).
    case invalidField(path: String, reason: String)
    /// A token named by merges, special tokens or metadata is not in the vocabulary.
    case unknownToken(String, context: String)
    /// The file is not JSON, or not a JSON object.
    case invalidJSON(String)
    /// GGUF tokenizer metadata names a model or pre-tokenizer TrimtabText does not implement.
    case unsupportedGGUF(field: String, value: String)

    public var description: String {
        switch self {
        case let .unsupportedComponent(kind, type):
            return "unsupported \(kind) \"\(type)\" in tokenizer.json (TrimtabText implements the components of BPE, WordPiece and Unigram tokenizers of common models)"
        case let .invalidField(path, reason):
            return "tokenizer field \(path): \(reason)"
        case let .unknownToken(token, context):
            return "token \"\(token)\" used by \(context) is not in the vocabulary"
        case let .invalidJSON(reason):
            return "tokenizer.json is not valid: \(reason)"
        case let .unsupportedGGUF(field, value):
            return "unsupported GGUF tokenizer \(field) \"\(value)\""
        }
    }
}
