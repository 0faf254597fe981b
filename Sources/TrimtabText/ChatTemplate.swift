import Foundation

/// A chat prompt format, rendered natively (no Jinja) to the same text a model's own
/// template renders with transformers' `apply_chat_template`.
///
/// - `chatML`: `<|im_start|>role\ncontent<|im_end|>\n` per message, then
///   `<|im_start|>assistant\n` for a generation prompt. With a `defaultSystemMessage`
///   (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
///   that system turn comes first when the conversation does not start with one.
/// - `llama3`: `bos` then `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`
///   per message (content trimmed), then `<|start_header_id|>assistant<|end_header_id|>\n\n`.
public struct ChatTemplate: Sendable, Equatable {
    /// The message layout.
    public enum Format: String, Sendable {
        /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen2, …).
        case chatML
        /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
        case llama3
    }

    /// The message layout.
    public var format: Format
    /// System message put first when the conversation has none (`chatML` only).
    public var defaultSystemMessage: String?
    /// Text put before the first message (`llama3`: `<|begin_of_text|>`).
    public var bosToken: String

    /// Creates a template.
    public init(format: Format, defaultSystemMessage: String? = nil, bosToken: String = "") {
        self.format = format
        self.defaultSystemMessage = defaultSystemMessage
        self.bosToken = bosToken
    }

    /// ChatML without a default system message.
    public static let chatML = ChatTemplate(format: .chatML)

    /// ChatML with a default system message.
    public static func chatML(defaultSystemMessage: String?) -> ChatTemplate {
        ChatTemplate(format: .chatML, defaultSystemMessage: defaultSystemMessage)
    }

    /// Llama 3 Instruct's format.
    public static let llama3 = ChatTemplate(format: .llama3, bosToken: "<|begin_of_text|>")

    /// The token text that ends an assistant turn (a stop string for generation).
    public var endOfTurn: String {
        switch format {
        case .chatML: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        }
    }

    /// Renders a conversation; `addGenerationPrompt` opens an assistant turn at the end.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        switch format {
        case .chatML:
            if let system = defaultSystemMessage, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(system)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            out += messages.isEmpty ? "" : bosToken
            for m in messages {
                let content = m.content.trimmingCharacters(in: .whitespacesAndNewlines)
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(content)<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }

    /// Picks the format a model's Jinja chat template (`tokenizer.chat_template`) uses, by
    /// its markers; for ChatML it also picks up a default system message written literally
    /// in the template. Nil when neither format's markers are present.
    public static func detect(fromTemplate jinja: String) -> ChatTemplate? {
        if jinja.contains("<|start_header_id|>") && jinja.contains("<|eot_id|>") {
            return .llama3
        }
        guard jinja.contains("<|im_start|>") else { return nil }
        return .chatML(defaultSystemMessage: literalSystemMessage(in: jinja))
    }

    /// The text of a literal `<|im_start|>system\n…<|im_end|>` in the template, if any
    /// (one built from `messages[0]['content']` is not a default).
    private static func literalSystemMessage(in jinja: String) -> String? {
        for opener in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            var rest = jinja[...]
            while let open = rest.range(of: opener) {
                rest = rest[open.upperBound...]
                guard let close = rest.range(of: "<|im_end|>") else { break }
                let body = String(rest[..<close.lowerBound])
                if !body.isEmpty && !body.contains("'") && !body.contains("\"") && !body.contains("{") && !body.contains("}") {
                    return body.replacingOccurrences(of: "\\n", with: "\n")
                }
            }
        }
        return nil
    }
}
