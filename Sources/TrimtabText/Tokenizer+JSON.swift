import Foundation

extension Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.invalidJSON("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(tokenizerJSON: data)
    }

    /// Builds a tokenizer from the contents of a Hugging Face `tokenizer.json`.
    ///
    /// Throws `TokenizerError.unsupportedComponent` naming the component when the file uses
    /// one TrimtabText does not implement (e.g. the `Precompiled` normalizer).
    public init(tokenizerJSON data: Data) throws {
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TokenizerError.invalidJSON(error.localizedDescription)
        }
        guard any is [String: Any] else { throw TokenizerError.invalidJSON("the top level is not an object") }
        let root = JSONNode(any, path: "")

        var added: [AddedToken] = []
        if !root["added_tokens"].isNull {
            for t in try root["added_tokens"].array() {
                added.append(AddedToken(
                    content: try t["content"].string(), id: Int32(try t["id"].int()),
                    special: try t["special"].bool(default: false), lstrip: try t["lstrip"].bool(default: false),
                    rstrip: try t["rstrip"].bool(default: false), singleWord: try t["single_word"].bool(default: false),
                    normalized: try t["normalized"].bool(default: true)))
            }
        }
        let normalizer = try Self.normalizer(root["normalizer"])
        let preTokenizer = try Self.preTokenizer(root["pre_tokenizer"])
        let model = try Self.model(root["model"])
        let addedIds = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        let post = try PostProcessor.from(root["post_processor"]) { addedIds[$0] ?? model.tokenToId($0) }
        let decoder = try Self.decoder(root["decoder"])
        self.init(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: post,
                  decoder: decoder, addedTokens: added)

        let specials = Set(added.filter(\.special).map(\.content))
        func firstSpecial(_ names: [String]) -> Int32? {
            names.first(where: specials.contains).flatMap { addedIds[$0] }
        }
        bosId = post.prefix.first ?? firstSpecial(["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"])
        eosId = post.suffix.last ?? firstSpecial(["</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"])
        if let pad = root["padding"].object {
            padId = (pad["pad_id"] as? NSNumber).map { Int32(truncating: $0) }
        }
        padId = padId ?? firstSpecial(["<pad>", "[PAD]", "<|pad|>"])
    }

    // MARK: - Components

    static func normalizer(_ node: JSONNode) throws -> Normalizer? {
        if node.isNull { return nil }
        let type = try node["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try node["normalizers"].array().compactMap(normalizer))
        case "BertNormalizer":
            let lowercase = try node["lowercase"].bool(default: true)
            return .bert(cleanText: try node["clean_text"].bool(default: true),
                         handleChineseChars: try node["handle_chinese_chars"].bool(default: true),
                         stripAccents: try node["strip_accents"].bool(default: lowercase), lowercase: lowercase)
        case "Lowercase": return .lowercase
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "StripAccents": return .stripAccents
        case "Strip":
            return .strip(left: try node["strip_left"].bool(default: true), right: try node["strip_right"].bool(default: true))
        case "Replace":
            return .replace(try TextPattern.from(node["pattern"]), with: try node["content"].string())
        case "Prepend":
            return .prepend(try node["prepend"].string())
        default:
            throw TokenizerError.unsupportedComponent(kind: "normalizer", type: type)
        }
    }

    static func preTokenizer(_ node: JSONNode) throws -> PreTokenizer? {
        if node.isNull { return nil }
        let type = try node["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try node["pretokenizers"].array().compactMap(preTokenizer))
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try node["add_prefix_space"].bool(default: true),
                              useRegex: try node["use_regex"].bool(default: true))
        case "Split":
            let behavior = try splitBehavior(node["behavior"])
            return .split(try TextPattern.from(node["pattern"]), behavior: behavior, invert: try node["invert"].bool(default: false))
        case "Digits":
            return .digits(individual: try node["individual_digits"].bool(default: false))
        case "Metaspace":
            return .metaspace(replacement: try replacement(node), prependScheme: try prependScheme(node),
                              split: try node["split"].bool(default: true))
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Punctuation":
            return .punctuation(node["behavior"].isNull ? .isolated : try splitBehavior(node["behavior"]))
        default:
            throw TokenizerError.unsupportedComponent(kind: "pre_tokenizer", type: type)
        }
    }

    static func model(_ node: JSONNode) throws -> any TokenizerModel {
        guard node.object != nil else { throw node.invalid("expected the model object") }
        let type = node["type"].optionalString
            ?? (node["merges"].isNull ? (node["vocab"].value is [Any] ? "Unigram" : "WordPiece") : "BPE")
        switch type {
        case "BPE":
            guard let raw = node["vocab"].object else { throw node["vocab"].invalid("expected an object of token: id") }
            var ids: [(String, Int32)] = []
            ids.reserveCapacity(raw.count)
            for (t, v) in raw {
                guard let n = v as? NSNumber else { throw node["vocab"][t].invalid("expected an id") }
                ids.append((t, Int32(truncating: n)))
            }
            var merges: [(String, String)] = []
            for m in node["merges"].isNull ? [] : try node["merges"].array() {
                if let s = m.optionalString {
                    let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw m.invalid("merge \"\(s)\" is not two tokens") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else {
                    let pair = try m.array()
                    guard pair.count == 2 else { throw m.invalid("expected a pair of tokens") }
                    merges.append((try pair[0].string(), try pair[1].string()))
                }
            }
            return try BPEModel(vocab: Vocabulary(ids), merges: merges, unkToken: node["unk_token"].optionalString,
                                fuseUnk: try node["fuse_unk"].bool(default: false),
                                byteFallback: try node["byte_fallback"].bool(default: false),
                                ignoreMerges: try node["ignore_merges"].bool(default: false),
                                continuingSubwordPrefix: node["continuing_subword_prefix"].optionalString,
                                endOfWordSuffix: node["end_of_word_suffix"].optionalString)
        case "WordPiece":
            guard let raw = node["vocab"].object else { throw node["vocab"].invalid("expected an object of token: id") }
            var ids: [(String, Int32)] = []
            for (t, v) in raw {
                guard let n = v as? NSNumber else { throw node["vocab"][t].invalid("expected an id") }
                ids.append((t, Int32(truncating: n)))
            }
            return try WordPieceModel(vocab: Vocabulary(ids), unkToken: node["unk_token"].optionalString ?? "[UNK]",
                                      continuingSubwordPrefix: node["continuing_subword_prefix"].optionalString ?? "##",
                                      maxInputCharsPerWord: try node["max_input_chars_per_word"].int(default: 100))
        case "Unigram":
            let pieces = try node["vocab"].array().map { entry -> (String, Double) in
                let pair = try entry.array()
                guard pair.count == 2 else { throw entry.invalid("expected [piece, score]") }
                return (try pair[0].string(), try pair[1].double())
            }
            return try UnigramModel(pieces: pieces, unkId: node["unk_id"].isNull ? nil : try node["unk_id"].int(),
                                    byteFallback: try node["byte_fallback"].bool(default: false))
        default:
            throw TokenizerError.unsupportedComponent(kind: "model", type: type)
        }
    }

    static func decoder(_ node: JSONNode) throws -> TokenDecoder? {
        if node.isNull { return nil }
        let type = try node["type"].string()
        switch type {
        case "Sequence":
            return .sequence(try node["decoders"].array().compactMap(decoder))
        case "ByteLevel": return .byteLevel
        case "WordPiece":
            return .wordPiece(prefix: node["prefix"].optionalString ?? "##", cleanup: try node["cleanup"].bool(default: true))
        case "Metaspace":
            return .metaspace(replacement: try replacement(node), prependScheme: try prependScheme(node))
        case "Replace":
            return .replace(try TextPattern.from(node["pattern"]), with: try node["content"].string())
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let content = try node["content"].string()
            guard let c = content.unicodeScalars.first, content.unicodeScalars.count == 1 else {
                throw node["content"].invalid("expected one character")
            }
            return .strip(content: c, start: try node["start"].int(default: 0), stop: try node["stop"].int(default: 0))
        case "BPEDecoder":
            return .bpe(suffix: node["suffix"].optionalString ?? "</w>")
        default:
            throw TokenizerError.unsupportedComponent(kind: "decoder", type: type)
        }
    }

    // MARK: - Fields

    private static func splitBehavior(_ node: JSONNode) throws -> SplitBehavior {
        let name = try node.string()
        guard let b = SplitBehavior(rawValue: name) else { throw node.invalid("unknown split behavior \(name)") }
        return b
    }

    private static func replacement(_ node: JSONNode) throws -> Unicode.Scalar {
        let s = node["replacement"].optionalString ?? "\u{2581}"
        guard let c = s.unicodeScalars.first, s.unicodeScalars.count == 1 else {
            throw node["replacement"].invalid("expected one character")
        }
        return c
    }

    private static func prependScheme(_ node: JSONNode) throws -> PrependScheme {
        if let name = node["prepend_scheme"].optionalString {
            guard let s = PrependScheme(rawValue: name) else { throw node["prepend_scheme"].invalid("unknown scheme \(name)") }
            return s
        }
        return try node["add_prefix_space"].bool(default: true) ? .always : .never
    }
}
