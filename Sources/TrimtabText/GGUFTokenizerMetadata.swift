import Foundation

/// The tokenizer part of a GGUF file's metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`),
/// as plain values; the GGUF reader lives in TrimtabIO.
public struct GGUFTokenizerMetadata: Sendable, Equatable {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece BPE).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer of a `gpt2` model (`"smollm"`, `"llama-bpe"`,
    /// `"qwen2"`, `"gpt-2"`, `"default"`, …).
    public var pre: String?
    /// `tokenizer.ggml.tokens`, indexed by id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public var tokenTypes: [Int32]?
    /// `tokenizer.ggml.merges` as `"a b"` strings (gpt2 models).
    public var merges: [String]?
    /// `tokenizer.ggml.scores` (llama models: higher merges first).
    public var scores: [Float]?
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenId: Int32?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenId: Int32?
    /// `tokenizer.ggml.padding_token_id`.
    public var padTokenId: Int32?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenId: Int32?
    /// `tokenizer.ggml.add_bos_token`.
    public var addBosToken: Bool
    /// `tokenizer.ggml.add_eos_token`.
    public var addEosToken: Bool
    /// `tokenizer.ggml.add_space_prefix` (llama models; llama.cpp's default is true).
    public var addSpacePrefix: Bool
    /// `tokenizer.chat_template` (Jinja source).
    public var chatTemplate: String?

    /// Token types of `tokenizer.ggml.token_type`.
    public enum TokenType: Int32, Sendable {
        /// An ordinary vocabulary token.
        case normal = 1
        /// The unknown token.
        case unknown = 2
        /// A control (special) token such as BOS, EOS, `<|im_start|>`.
        case control = 3
        /// A token added by the model's authors, matched in text but not special.
        case userDefined = 4
        /// A reserved, unused slot.
        case unused = 5
        /// A `<0xXX>` byte token.
        case byte = 6
    }

    /// Creates metadata; absent GGUF keys are nil or false (`addSpacePrefix` defaults to true).
    public init(model: String, pre: String? = nil, tokens: [String], tokenTypes: [Int32]? = nil, merges: [String]? = nil,
                scores: [Float]? = nil, bosTokenId: Int32? = nil, eosTokenId: Int32? = nil, padTokenId: Int32? = nil,
                unknownTokenId: Int32? = nil, addBosToken: Bool = false, addEosToken: Bool = false,
                addSpacePrefix: Bool = true, chatTemplate: String? = nil) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
        self.unknownTokenId = unknownTokenId
        self.addBosToken = addBosToken
        self.addEosToken = addEosToken
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
    }
}
