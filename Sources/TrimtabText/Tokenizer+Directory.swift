import Foundation

extension Tokenizer {
    /// Loads a Hugging Face model directory's tokenizer: `tokenizer.json`, plus
    /// `tokenizer_config.json` when present for the special-token names (`bos_token`,
    /// `eos_token`, `pad_token`, `unk_token`) and the chat template (`chat_template`).
    public init(directory: URL) throws {
        try self.init(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: configURL) else { return }
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError.invalidJSON("\(configURL.path) is not a JSON object")
        }
        func id(_ key: String) -> Int32? {
            // "bos_token": "<s>" or {"content": "<s>", ...}
            let name = (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String)
            return name.flatMap(tokenToId)
        }
        bosId = id("bos_token") ?? bosId
        eosId = id("eos_token") ?? eosId
        padId = id("pad_token") ?? padId
        unkId = id("unk_token") ?? unkId
        var template = config["chat_template"] as? String
        if template == nil, let named = config["chat_template"] as? [[String: Any]] {
            // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
            template = (named.first { $0["name"] as? String == "default" } ?? named.first)?["template"] as? String
        }
        chatTemplate = template.flatMap(ChatTemplate.detect(fromTemplate:))
        chatTemplateSource = template
    }
}
