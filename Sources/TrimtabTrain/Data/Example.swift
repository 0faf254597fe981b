import TrimtabText

/// One example of a JSONL data set, in one of the shapes the ecosystem uses.
///
/// Which tokens carry the loss follows the shape: every token of `text`; the completion of
/// `promptCompletion`; the assistant turns of `messages`; the label word of
/// `classification` (a verbaliser maps the label to the word the model should write).
public enum Example: Sendable, Equatable {
    /// `{"text": "..."}`: language modelling on the whole text.
    case text(String)
    /// `{"prompt": "...", "completion": "..."}`: loss on the completion only.
    case promptCompletion(prompt: String, completion: String)
    /// `{"messages": [{"role": "...", "content": "..."}, ...]}`: rendered with the model's
    /// chat format; loss on assistant turns only.
    case messages([ChatMessage])
    /// `{"text": "...", "label": "..."}`: the text goes into a template, the label word follows.
    case classification(text: String, label: String)

    /// The shape of this example.
    public var shape: ExampleShape {
        switch self {
        case .text: return .text
        case .promptCompletion: return .promptCompletion
        case .messages: return .messages
        case .classification: return .classification
        }
    }
}

/// The JSON shape of a data set's lines.
public enum ExampleShape: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case text
    case promptCompletion = "prompt-completion"
    case messages
    case classification

    /// The fields a line of this shape has, as written in the file.
    public var fields: [String] {
        switch self {
        case .text: return ["text"]
        case .promptCompletion: return ["prompt", "completion"]
        case .messages: return ["messages"]
        case .classification: return ["text", "label"]
        }
    }

    public var description: String { "{" + fields.map { "\"\($0)\"" }.joined(separator: ",") + "}" }
}
