import Foundation

// Writes a byte-level BPE tokenizer as Hugging Face `tokenizers` reads it. Reference: the
// tokenizer.json of GPT-2-style models (SmolLM2, Qwen2, Llama 3) written by tokenizers
// 0.2x: `model` {type BPE, vocab, merges as pairs}, `pre_tokenizer`, `decoder`
// {type ByteLevel}, `post_processor` (TemplateProcessing for BOS/EOS), `added_tokens`.

extension Tokenizer {
    /// This tokenizer as a `tokenizer.json` that Hugging Face `tokenizers` loads and that
    /// encodes text to the same ids.
    ///
    /// Supported: byte-level BPE (GGUF `gpt2` models and tokenizer.json BPE models with a
    /// ByteLevel pipeline) with the pre-tokenizers Trimtab knows (ByteLevel, Digits, Split
    /// by the GPT-2 / Llama 3 / Qwen2 regexes or a literal).
    ///
    /// - Throws: ``TokenizerError/unsupportedGGUF(field:value:)`` naming the part that
    ///   cannot be written (SentencePiece, WordPiece and Unigram models, normalizers).
    public func huggingFaceJSON() throws -> Data {
        guard let bpe = model as? BPEModel, bpe.byteLevelSettings.plain else {
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.json export", value: "\(type(of: model)) (only byte-level BPE)")
        }
        guard normalizer == nil else {
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.json export", value: "a normalizer")
        }
        var vocab: [String: Int] = [:]
        for (id, token) in bpe.vocab.tokens.enumerated() {
            if let token { vocab[token] = id }
        }
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": bpe.byteLevelSettings.ignoreMerges, "vocab": vocab,
            "merges": bpe.orderedMerges.map { [$0.0, $0.1] },
        ]
        let added: [[String: Any]] = addedTokens.map {
            ["id": Int($0.id), "content": $0.content, "single_word": $0.singleWord, "lstrip": $0.lstrip,
             "rstrip": $0.rstrip, "normalized": $0.normalized, "special": $0.special]
        }
        var root: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": NSNull(), "model": model,
            "pre_tokenizer": try preTokenizer.map(Self.json) ?? NSNull(),
            "decoder": try decoder.map(Self.json) ?? NSNull(),
        ]
        root["post_processor"] = postProcessorJSON()
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// `tokenizer_config.json` for this tokenizer: special tokens, the chat template,
    /// whether BOS/EOS are added, and the fast tokenizer class.
    public func huggingFaceConfigJSON(modelMaxLength: Int?) throws -> Data {
        func name(_ id: Int32?) -> Any {
            guard let id, let token = idToToken(id) else { return NSNull() }
            return token
        }
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": name(bosId), "eos_token": name(eosId), "pad_token": name(padId), "unk_token": name(unkId),
            "add_bos_token": postProcessor.prefix.contains { $0 == bosId },
            "add_eos_token": postProcessor.suffix.contains { $0 == eosId },
            "clean_up_tokenization_spaces": false,
            "added_tokens_decoder": Dictionary(uniqueKeysWithValues: addedTokens.map {
                (String($0.id), ["content": $0.content, "single_word": $0.singleWord, "lstrip": $0.lstrip,
                                 "rstrip": $0.rstrip, "normalized": $0.normalized, "special": $0.special] as [String: Any])
            }),
        ]
        if let chatTemplateSource { config["chat_template"] = chatTemplateSource }
        if let modelMaxLength { config["model_max_length"] = modelMaxLength }
        return try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }

    private func postProcessorJSON() -> Any {
        if postProcessor.prefix.isEmpty && postProcessor.suffix.isEmpty {
            return ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true] as [String: Any]
        }
        var specials: [String: Any] = [:]
        func piece(_ id: Int32) -> [String: Any] {
            let token = idToToken(id) ?? "<\(id)>"
            specials[token] = ["id": token, "ids": [Int(id)], "tokens": [token]]
            return ["SpecialToken": ["id": token, "type_id": 0]]
        }
        let sequence: [String: Any] = ["Sequence": ["id": "A", "type_id": 0]]
        let single = postProcessor.prefix.map(piece) + [sequence] + postProcessor.suffix.map(piece)
        let sequenceB: [String: Any] = ["Sequence": ["id": "B", "type_id": 1]]
        let pair = single + postProcessor.prefix.map(piece) + [sequenceB] + postProcessor.suffix.map(piece)
        return ["type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials] as [String: Any]
    }

    private static func json(_ pre: PreTokenizer) throws -> [String: Any] {
        switch pre {
        case let .sequence(parts):
            return ["type": "Sequence", "pretokenizers": try parts.map(json)]
        case let .byteLevel(addPrefixSpace, useRegex):
            return ["type": "ByteLevel", "add_prefix_space": addPrefixSpace, "trim_offsets": true, "use_regex": useRegex]
        case let .split(pattern, behavior, invert):
            return ["type": "Split", "pattern": try json(pattern), "behavior": behavior.rawValue, "invert": invert]
        case let .digits(individual):
            return ["type": "Digits", "individual_digits": individual]
        default:
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.json export", value: "pre-tokenizer \(pre)")
        }
    }

    private static func json(_ pattern: TextPattern) throws -> [String: Any] {
        switch pattern {
        case let .string(s): return ["String": s]
        case .gpt2: return ["Regex": PatternScanner.gpt2Pattern]
        case .llama3: return ["Regex": PatternScanner.llama3Pattern]
        case .qwen2: return ["Regex": PatternScanner.qwen2Pattern]
        case let .regex(re): return ["Regex": re.pattern]
        }
    }

    private static func json(_ decoder: TokenDecoder) throws -> [String: Any] {
        switch decoder {
        case .byteLevel:
            return ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
        case let .sequence(parts):
            return ["type": "Sequence", "decoders": try parts.map(json)]
        default:
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.json export", value: "decoder \(decoder)")
        }
    }
}
