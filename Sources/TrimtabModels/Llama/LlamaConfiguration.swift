/// The configuration of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, SmolLM2).
///
/// Mirrors Hugging Face's `config.json`; snake_case names appear only in `CodingKeys`.
/// Reference: transformers `models/llama/configuration_llama.py`.
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var modelType: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// Biases on the query, key and value projections (Qwen2 always has them).
    public var attentionBias: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads"
        case headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case maxPositions = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
    }

    public init(modelType: String = "llama", vocabularySize: Int, hiddenSize: Int, intermediateSize: Int,
                layerCount: Int, headCount: Int, kvHeadCount: Int? = nil, headDim: Int? = nil,
                rmsNormEps: Float = 1e-5, ropeTheta: Float = 10_000, maxPositions: Int = 2048,
                tieWordEmbeddings: Bool = false, attentionBias: Bool = false,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.modelType = modelType
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount ?? headCount
        self.headDim = headDim ?? hiddenSize / headCount
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias || modelType == "qwen2"
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        let hidden = try c.decode(Int.self, forKey: .hiddenSize)
        let heads = try c.decode(Int.self, forKey: .headCount)
        guard hidden > 0, heads > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .headCount, in: c,
                                                   debugDescription: "hidden_size and num_attention_heads must be positive")
        }
        // eos_token_id may be an int or a list; take the first.
        var eos: Int? = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        if eos == nil, let list = try? c.decodeIfPresent([Int].self, forKey: .eosTokenId) { eos = list.first }
        self.init(
            modelType: modelType,
            vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
            hiddenSize: hidden,
            intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
            layerCount: try c.decode(Int.self, forKey: .layerCount),
            headCount: heads,
            kvHeadCount: try c.decodeIfPresent(Int.self, forKey: .kvHeadCount),
            headDim: try c.decodeIfPresent(Int.self, forKey: .headDim),
            rmsNormEps: try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6,
            ropeTheta: try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
                ?? Self.ropeParametersTheta(decoder) ?? 10_000,
            maxPositions: try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 2048,
            tieWordEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false,
            attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false,
            bosTokenId: try? c.decodeIfPresent(Int.self, forKey: .bosTokenId),
            eosTokenId: eos)
        try Self.rejectRopeScaling(decoder)
        guard headCount % kvHeadCount == 0 else {
            throw DecodingError.dataCorruptedError(forKey: .kvHeadCount, in: c,
                                                   debugDescription: "num_attention_heads (\(headCount)) must be a multiple of num_key_value_heads (\(kvHeadCount))")
        }
    }

    /// `rope_parameters.rope_theta`, where transformers 5 writes the rotary base.
    private static func ropeParametersTheta(_ decoder: Decoder) throws -> Float? {
        let c = try decoder.container(keyedBy: RopeKeys.self)
        guard let nested = try? c.nestedContainer(keyedBy: RopeKeys.self, forKey: .ropeParameters) else { return nil }
        return try nested.decodeIfPresent(Float.self, forKey: .ropeTheta)
    }

    /// Rotary scaling (Llama 3.1's `llama3`, `linear`, `dynamic`, `yarn`) changes every
    /// position's frequencies; until it is implemented, refuse it rather than compute
    /// wrong logits.
    private static func rejectRopeScaling(_ decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: RopeKeys.self)
        for key in [RopeKeys.ropeScaling, .ropeParameters] {
            guard let nested = try? c.nestedContainer(keyedBy: RopeKeys.self, forKey: key) else { continue }
            let type = (try? nested.decodeIfPresent(String.self, forKey: .ropeType))
                ?? (try? nested.decodeIfPresent(String.self, forKey: .type)) ?? "default"
            if type != "default" {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription: "rotary scaling '\(type)' is not supported yet (only unscaled RoPE)")
            }
        }
    }

    private enum RopeKeys: String, CodingKey {
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case ropeTheta = "rope_theta"
        case ropeType = "rope_type"
        case type
    }
}
