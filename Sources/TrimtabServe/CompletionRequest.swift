import Foundation
import TrimtabPEFT
import TrimtabText

/// A parsed `/v1/completions` or `/v1/chat/completions` body, every field checked.
/// Fields this server does not use (`user`, `logit_bias`, …) are ignored, as OpenAI's
/// clients send them freely; fields it cannot honour (`n > 1`, `logprobs`, `echo`) are
/// refused with a 400 naming them.
struct CompletionRequest {
    enum Input {
        case text(String)
        case tokens([Int32])
        case chat([ChatMessage])
    }

    var model: String
    var input: Input
    var maxTokens: Int?
    var temperature: Float
    var topP: Float
    var stop: [String]
    var seed: UInt64?
    var stream: Bool
    var includeUsage: Bool
    /// vLLM's extension: generate through end-of-sequence tokens, always `max_tokens` of
    /// them (for benchmarks that need equal work per request).
    var ignoreEOS = false

    /// Parses `data` (`chat` picks the endpoint's shape).
    static func parse(_ data: Data, chat: Bool) throws -> CompletionRequest {
        let object: JSONValue
        do {
            object = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw OpenAIError.invalid("the request body is not valid JSON: \(Self.describe(error))", code: "invalid_json")
        }
        guard case let .object(fields) = object else {
            throw OpenAIError.invalid("the request body must be a JSON object", code: "invalid_json")
        }
        let f = Fields(fields)
        guard let model = try f.string("model") else {
            throw OpenAIError.invalid("'model' is required: the name of an adapter or of the base model", param: "model")
        }
        let input: Input
        if chat {
            input = .chat(try Self.messages(fields["messages"]))
        } else {
            input = try Self.prompt(fields["prompt"])
        }
        let maxTokens = try f.int("max_tokens") ?? f.int("max_completion_tokens")
        if let maxTokens, maxTokens < 1 {
            throw OpenAIError.invalid("'max_tokens' must be at least 1", param: "max_tokens")
        }
        let temperature = try f.number("temperature") ?? 1
        guard temperature >= 0 && temperature <= 2 else {
            throw OpenAIError.invalid("'temperature' must be between 0 and 2", param: "temperature")
        }
        let topP = try f.number("top_p") ?? 1
        guard topP > 0 && topP <= 1 else {
            throw OpenAIError.invalid("'top_p' must be in (0, 1]", param: "top_p")
        }
        var stop: [String] = []
        let stopProblem = OpenAIError.invalid("'stop' must be a string or a list of at most 4 strings", param: "stop")
        switch fields["stop"] {
        case nil, .null?: break
        case let .string(s)?: stop = [s]
        case let .array(list)?:
            guard list.count <= 4 else { throw stopProblem }
            stop = try list.map { item -> String in
                guard case let .string(s) = item else { throw stopProblem }
                return s
            }
        default: throw stopProblem
        }
        var seed: UInt64?
        if let s = try f.int("seed") { seed = UInt64(bitPattern: Int64(s)) }
        if let n = try f.int("n"), n != 1 {
            throw OpenAIError.invalid("'n' must be 1: this server returns one choice", param: "n")
        }
        for unsupported in ["logprobs", "echo", "suffix", "tools", "functions"] {
            switch fields[unsupported] {
            case nil, .null?, .bool(false)?: continue
            default: throw OpenAIError.invalid("'\(unsupported)' is not supported by this server", param: unsupported)
            }
        }
        let stream = try f.bool("stream") ?? false
        var includeUsage = false
        switch fields["stream_options"] {
        case nil, .null?: break
        case let .object(o)?: includeUsage = try Fields(o, prefix: "stream_options.").bool("include_usage") ?? false
        default: throw OpenAIError.invalid("'stream_options' must be an object", param: "stream_options")
        }
        return CompletionRequest(model: model, input: input, maxTokens: maxTokens, temperature: Float(temperature),
                                 topP: Float(topP), stop: stop, seed: seed, stream: stream, includeUsage: includeUsage,
                                 ignoreEOS: try f.bool("ignore_eos") ?? false)
    }

    private static func prompt(_ value: JSONValue?) throws -> Input {
        let problem = OpenAIError.invalid("'prompt' must be a string, a list of one string, or a list of token ids",
                                          param: "prompt")
        switch value {
        case nil, .null?:
            throw OpenAIError.invalid("'prompt' is required", param: "prompt")
        case let .string(s)?:
            return .text(s)
        case let .array(list)?:
            if list.count == 1, case let .string(s) = list[0] { return .text(s) }
            let ids = try list.map { item -> Int32 in
                guard case let .number(d) = item, d == d.rounded(), d >= 0, d <= Double(Int32.max) else { throw problem }
                return Int32(d)
            }
            guard !ids.isEmpty else { throw problem }
            return .tokens(ids)
        default:
            throw problem
        }
    }

    private static func messages(_ value: JSONValue?) throws -> [ChatMessage] {
        guard case let .array(list)? = value, !list.isEmpty else {
            throw OpenAIError.invalid("'messages' must be a non-empty list of {role, content} objects", param: "messages")
        }
        return try list.enumerated().map { index, item in
            let param = "messages[\(index)]"
            guard case let .object(message) = item else {
                throw OpenAIError.invalid("'\(param)' must be an object", param: param)
            }
            guard case let .string(role)? = message["role"], ["system", "developer", "user", "assistant"].contains(role) else {
                throw OpenAIError.invalid("'\(param).role' must be system, developer, user or assistant",
                                          param: "\(param).role")
            }
            let content: String
            switch message["content"] {
            case let .string(s)?: content = s
            case let .array(parts)?:
                content = try parts.enumerated().map { j, part -> String in
                    guard case let .object(p) = part, p["type"] == .string("text"), case let .string(text)? = p["text"] else {
                        throw OpenAIError.invalid("'\(param).content[\(j)]' must be {\"type\": \"text\", \"text\": …}",
                                                  param: "\(param).content")
                    }
                    return text
                }.joined()
            case .null? where role == "assistant": content = ""
            default:
                throw OpenAIError.invalid("'\(param).content' must be a string or a list of text parts",
                                          param: "\(param).content")
            }
            return ChatMessage(role: role == "developer" ? "system" : role, content: content)
        }
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}

/// Typed access to a JSON object's fields with errors naming the field.
struct Fields {
    let values: [String: JSONValue]
    let prefix: String

    init(_ values: [String: JSONValue], prefix: String = "") {
        self.values = values
        self.prefix = prefix
    }

    private func present(_ key: String) -> JSONValue? {
        guard let v = values[key], v != .null else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard case let .string(s) = v else {
            throw OpenAIError.invalid("'\(prefix)\(key)' must be a string", param: prefix + key)
        }
        return s
    }

    func int(_ key: String) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard case let .number(d) = v, d == d.rounded(), abs(d) < 9e15 else {
            throw OpenAIError.invalid("'\(prefix)\(key)' must be an integer", param: prefix + key)
        }
        return Int(d)
    }

    func number(_ key: String) throws -> Double? {
        guard let v = present(key) else { return nil }
        guard case let .number(d) = v, d.isFinite else {
            throw OpenAIError.invalid("'\(prefix)\(key)' must be a number", param: prefix + key)
        }
        return d
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard case let .bool(b) = v else {
            throw OpenAIError.invalid("'\(prefix)\(key)' must be true or false", param: prefix + key)
        }
        return b
    }
}
