import Foundation

/// A text tokenizer that gives exactly the ids Hugging Face `tokenizers` gives.
///
/// Built from a `tokenizer.json` (`Tokenizer(tokenizerJSON:)`) or from GGUF tokenizer
/// metadata (`Tokenizer(gguf:)`). Encoding runs HF's pipeline: added tokens are split out
/// of the raw text first, each remaining piece is normalized, pre-tokenized and given to
/// the model (byte-level BPE, SentencePiece BPE, WordPiece or Unigram), and
/// `addSpecialTokens` adds the post-processor's tokens (BOS/EOS, `[CLS]`/`[SEP]`).
///
/// ```swift
/// let tokenizer = try Tokenizer(contentsOf: URL(fileURLWithPath: "tokenizer.json"))
/// let ids = tokenizer.encode("Hello world", addSpecialTokens: true)
/// let text = tokenizer.decode(ids, skipSpecialTokens: true)
/// ```
///
/// Truncation and padding settings of tokenizer.json are not applied; callers cut and pad.
public struct Tokenizer: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: any TokenizerModel
    let postProcessor: PostProcessor
    let decoder: TokenDecoder?
    /// Added tokens by id.
    let addedById: [Int32: AddedToken]
    let addedByContent: [ExactString: Int32]
    /// The text an added token decodes to: its content, normalized for `normalized` tokens (as HF).
    let addedText: [Int32: String]
    /// Matches added tokens with `normalized == false` in the raw text.
    let rawSplitter: AddedTokenSplitter
    /// Matches added tokens with `normalized == true` in the normalized text.
    let normalizedSplitter: AddedTokenSplitter

    /// Beginning-of-sequence token id, if the tokenizer has one.
    public var bosId: Int32?
    /// End-of-sequence token id, if the tokenizer has one.
    public var eosId: Int32?
    /// Padding token id, if the tokenizer has one.
    public var padId: Int32?
    /// Unknown-token id, if the model has one.
    public var unkId: Int32?
    /// The chat format of the model, when its metadata carries a recognised template.
    public var chatTemplate: ChatTemplate?
    /// The model's own Jinja chat template (`tokenizer.chat_template` in a GGUF file,
    /// `chat_template` in `tokenizer_config.json`), as written.
    public var chatTemplateSource: String?

    init(normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: any TokenizerModel,
         postProcessor: PostProcessor, decoder: TokenDecoder?, addedTokens: [AddedToken]) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        var byId: [Int32: AddedToken] = [:]
        var byContent: [ExactString: Int32] = [:]
        for t in addedTokens {
            byId[t.id] = t
            byContent[ExactString(t.content)] = t.id
        }
        addedById = byId
        addedByContent = byContent
        var text: [Int32: String] = [:]
        for t in addedTokens { text[t.id] = t.normalized ? normalizer?.normalize(t.content) ?? t.content : t.content }
        addedText = text
        rawSplitter = AddedTokenSplitter(addedTokens.filter { !$0.normalized }.map { ($0, $0.content) })
        normalizedSplitter = AddedTokenSplitter(addedTokens.filter(\.normalized).map { ($0, text[$0.id] ?? $0.content) })
        unkId = model.unkId
    }

    /// The added tokens (special and not), in id order.
    public var addedTokens: [AddedToken] { addedById.values.sorted { $0.id < $1.id } }

    /// Ids of the special added tokens (those `decode(_:skipSpecialTokens: true)` drops).
    public var specialTokenIds: Set<Int32> { Set(addedById.values.filter(\.special).map(\.id)) }

    /// One past the largest id of the model vocabulary and the added tokens.
    public var vocabularySize: Int {
        max(model.vocabularySize, Int(addedById.keys.max() ?? -1) + 1)
    }

    /// The id of a token string (added tokens first, then the model vocabulary).
    public func tokenToId(_ token: String) -> Int32? {
        addedByContent[ExactString(token)] ?? model.tokenToId(token)
    }

    /// The token string of an id (added tokens first, then the model vocabulary). Like HF,
    /// an added token matched in normalized text gives its normalized form.
    public func idToToken(_ id: Int32) -> String? {
        addedText[id] ?? model.idToToken(id)
    }

    /// Token ids of `text`; `addSpecialTokens` adds the tokens the post-processor puts
    /// around a sequence (BOS, `[CLS]`…`[SEP]`). Special tokens written in the text are
    /// always recognised.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        let raw = Array(text.unicodeScalars)
        for (range, id) in rawSplitter.split(raw) {
            if let id {
                ids.append(id)
                continue
            }
            let segment = String(String.UnicodeScalarView(raw[range]))
            let atStart = range.lowerBound == 0
            let normalized = normalizer?.normalize(segment) ?? segment
            if normalizedSplitter.isEmpty {
                encodeSegment(Array(normalized.unicodeScalars), atStart: atStart, into: &ids)
            } else {
                let scalars = Array(normalized.unicodeScalars)
                for (r, id) in normalizedSplitter.split(scalars) {
                    if let id { ids.append(id) } else {
                        encodeSegment(Array(scalars[r]), atStart: atStart && r.lowerBound == 0, into: &ids)
                    }
                }
            }
        }
        return addSpecialTokens ? postProcessor.process(ids) : ids
    }

    private func encodeSegment(_ scalars: [Unicode.Scalar], atStart: Bool, into ids: inout [Int32]) {
        if scalars.isEmpty { return }
        let piece = PreToken(scalars: scalars, atStart: atStart)
        let pieces = preTokenizer?.preTokenize([piece]) ?? [piece]
        for p in pieces { model.tokenize(p.scalars, into: &ids) }
    }

    /// The text of `ids`, run through the tokenizer's decoder; `skipSpecialTokens` drops
    /// special added tokens. Unknown ids are skipped.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let added = addedById[id] {
                if !(skipSpecialTokens && added.special) { tokens.append(addedText[id] ?? added.content) }
            } else if let t = model.idToToken(id) {
                tokens.append(t)
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// A decoder for generation that turns ids into text one at a time.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}
