import Foundation

extension Tokenizer {
    /// Builds the tokenizer a GGUF model file describes, behaving as llama.cpp does.
    ///
    /// - `gpt2`: byte-level BPE over `merges`, pre-tokenized by the regex `pre` names:
    ///   `smollm` (and llama.cpp's other StarCoder-style names) isolate every digit, then
    ///   the GPT-2 regex; `llama-bpe`/`llama3` the Llama 3 regex (whole-word vocabulary hits
    ///   skip merging); `qwen2` the Qwen2 regex; `gpt-2`/`gpt2`/`default` the GPT-2 regex.
    /// - `llama`: SentencePiece BPE with byte fallback: spaces become `▁`, `▁` is put in
    ///   front of every text fragment (`addSpacePrefix`), pairs merge by piece score.
    ///
    /// Control and unknown tokens (types 3, 2) become special added tokens and user-defined
    /// ones (4) plain added tokens, so they are split out of text. `addBosToken`/`addEosToken`
    /// decide what `encode(_:addSpecialTokens: true)` adds.
    public init(gguf meta: GGUFTokenizerMetadata) throws {
        let types = meta.tokenTypes ?? []
        if !types.isEmpty && types.count != meta.tokens.count {
            throw TokenizerError.invalidField(path: "tokenizer.ggml.token_type",
                                              reason: "\(types.count) types for \(meta.tokens.count) tokens")
        }
        var added: [AddedToken] = []
        for (i, type) in types.enumerated() {
            switch GGUFTokenizerMetadata.TokenType(rawValue: type) {
            case .control, .unknown:
                added.append(AddedToken(content: meta.tokens[i], id: Int32(i), special: true))
            case .userDefined:
                added.append(AddedToken(content: meta.tokens[i], id: Int32(i), special: false))
            default:
                break
            }
        }
        for id in [meta.bosTokenId, meta.eosTokenId, meta.padTokenId, meta.unknownTokenId].compactMap({ $0 }) {
            guard id >= 0 && Int(id) < meta.tokens.count else {
                throw TokenizerError.invalidField(path: "tokenizer.ggml", reason: "special token id \(id) is outside the vocabulary of \(meta.tokens.count)")
            }
        }
        var post = PostProcessor.none
        if meta.addBosToken, let bos = meta.bosTokenId { post.prefix = [bos] }
        if meta.addEosToken, let eos = meta.eosTokenId { post.suffix = [eos] }

        switch meta.model {
        case "gpt2":
            guard let mergeStrings = meta.merges else {
                throw TokenizerError.invalidField(path: "tokenizer.ggml.merges", reason: "a gpt2 tokenizer needs merges")
            }
            var merges: [(String, String)] = []
            merges.reserveCapacity(mergeStrings.count)
            for m in mergeStrings {
                let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidField(path: "tokenizer.ggml.merges", reason: "merge \"\(m)\" is not two tokens")
                }
                merges.append((String(parts[0]), String(parts[1])))
            }
            let pre = meta.pre ?? "default"
            let (preTokenizer, ignoreMerges) = try Self.ggufPreTokenizer(pre)
            let model = try BPEModel(vocab: Vocabulary(tokens: meta.tokens), merges: merges, unkToken: nil, fuseUnk: false,
                                     byteFallback: false, ignoreMerges: ignoreMerges, continuingSubwordPrefix: nil,
                                     endOfWordSuffix: nil)
            self.init(normalizer: nil, preTokenizer: preTokenizer, model: model, postProcessor: post,
                      decoder: .byteLevel, addedTokens: added)
        case "llama":
            guard let scores = meta.scores, scores.count == meta.tokens.count else {
                throw TokenizerError.invalidField(path: "tokenizer.ggml.scores", reason: "a llama tokenizer needs one score per token")
            }
            let model = SentencePieceBPEModel(tokens: meta.tokens, scores: scores, unkId: meta.unknownTokenId)
            var steps: [Normalizer] = []
            if meta.addSpacePrefix { steps.append(.prepend("\u{2581}")) }
            steps.append(.replace(.string(" "), with: "\u{2581}"))
            var decoders: [TokenDecoder] = [.replace(.string("\u{2581}"), with: " "), .byteFallback, .fuse]
            if meta.addSpacePrefix { decoders.append(.strip(content: " ", start: 1, stop: 0)) }
            self.init(normalizer: .sequence(steps), preTokenizer: nil, model: model, postProcessor: post,
                      decoder: .sequence(decoders), addedTokens: added)
        default:
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.ggml.model", value: meta.model)
        }
        bosId = meta.bosTokenId
        eosId = meta.eosTokenId
        padId = meta.padTokenId
        unkId = meta.unknownTokenId
        chatTemplate = meta.chatTemplate.flatMap(ChatTemplate.detect(fromTemplate:))
        chatTemplateSource = meta.chatTemplate
    }

    /// llama.cpp's pre-tokenizer for a `tokenizer.ggml.pre` name, and whether whole
    /// pre-tokens found in the vocabulary skip merging.
    static func ggufPreTokenizer(_ pre: String) throws -> (PreTokenizer, Bool) {
        let byteLevel = PreTokenizer.byteLevel(addPrefixSpace: false, useRegex: false)
        switch pre {
        case "gpt-2", "gpt2", "default":
            return (.byteLevel(addPrefixSpace: false, useRegex: true), false)
        case "smollm", "starcoder", "refact", "command-r", "codeshell":
            return (.sequence([.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)]), false)
        case "llama-bpe", "llama3", "llama-v3":
            return (.sequence([.split(.llama3, behavior: .isolated, invert: false), byteLevel]), true)
        case "qwen2", "deepseek-r1-qwen":
            return (.sequence([.split(.qwen2, behavior: .isolated, invert: false), byteLevel]), false)
        default:
            throw TokenizerError.unsupportedGGUF(field: "tokenizer.ggml.pre", value: pre)
        }
    }
}
