import TrimtabTensor

/// The configuration of a GPT-2 decoder.
///
/// Mirrors Hugging Face's `config.json`; snake_case names appear only in `CodingKeys`.
/// Reference: transformers `models/gpt2/configuration_gpt2.py`.
public struct GPT2Configuration: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    /// Rows of the learned position table: the longest sequence the model can read.
    public var maxPositions: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    /// Width of the feed-forward layer (`n_inner`, 4 × hidden when absent).
    public var intermediateSize: Int
    public var layerNormEps: Float
    /// The feed-forward activation (`activation_function`).
    public var activation: GELUApproximation
    /// Whether attention scores are divided by √headDim (`scale_attn_weights`).
    public var scaleAttentionWeights: Bool
    /// Whether layer `i`'s attention scores are further divided by `i + 1`
    /// (`scale_attn_by_inverse_layer_idx`).
    public var scaleAttentionByInverseLayerIndex: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    /// The width of one attention head.
    public var headDim: Int { hiddenSize / headCount }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case maxPositions = "n_positions"
        case hiddenSize = "n_embd"
        case layerCount = "n_layer"
        case headCount = "n_head"
        case intermediateSize = "n_inner"
        case layerNormEps = "layer_norm_epsilon"
        case activation = "activation_function"
        case scaleAttentionWeights = "scale_attn_weights"
        case scaleAttentionByInverseLayerIndex = "scale_attn_by_inverse_layer_idx"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
    }

    public init(vocabularySize: Int = 50257, maxPositions: Int = 1024, hiddenSize: Int = 768, layerCount: Int = 12,
                headCount: Int = 12, intermediateSize: Int? = nil, layerNormEps: Float = 1e-5,
                activation: GELUApproximation = .tanh, scaleAttentionWeights: Bool = true,
                scaleAttentionByInverseLayerIndex: Bool = false, bosTokenId: Int? = 50256, eosTokenId: Int? = 50256) {
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize ?? 4 * hiddenSize
        self.layerNormEps = layerNormEps
        self.activation = activation
        self.scaleAttentionWeights = scaleAttentionWeights
        self.scaleAttentionByInverseLayerIndex = scaleAttentionByInverseLayerIndex
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func positive(_ key: CodingKeys, default value: Int? = nil) throws -> Int {
            let n: Int
            if let value {
                n = try c.decodeIfPresent(Int.self, forKey: key) ?? value
            } else {
                n = try c.decode(Int.self, forKey: key)
            }
            guard n > 0 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                       debugDescription: "\(key.stringValue) must be positive, got \(n)")
            }
            return n
        }
        let hidden = try positive(.hiddenSize, default: 768)
        let heads = try positive(.headCount, default: 12)
        guard hidden % heads == 0 else {
            throw DecodingError.dataCorruptedError(forKey: .headCount, in: c,
                                                   debugDescription: "n_embd (\(hidden)) must be a multiple of n_head (\(heads))")
        }
        let activationName = try c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu_new"
        guard let activation = Self.activation(named: activationName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .activation, in: c,
                debugDescription: "activation_function '\(activationName)' is not supported "
                    + "(supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)")
        }
        // n_inner is null in most checkpoints.
        let inner = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        if let inner, inner <= 0 {
            throw DecodingError.dataCorruptedError(forKey: .intermediateSize, in: c,
                                                   debugDescription: "n_inner must be positive, got \(inner)")
        }
        self.init(
            vocabularySize: try positive(.vocabularySize, default: 50257),
            maxPositions: try positive(.maxPositions, default: 1024),
            hiddenSize: hidden,
            layerCount: try positive(.layerCount, default: 12),
            headCount: heads,
            intermediateSize: inner,
            layerNormEps: try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5,
            activation: activation,
            scaleAttentionWeights: try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionWeights) ?? true,
            scaleAttentionByInverseLayerIndex:
                try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionByInverseLayerIndex) ?? false,
            bosTokenId: try? c.decodeIfPresent(Int.self, forKey: .bosTokenId),
            eosTokenId: try? c.decodeIfPresent(Int.self, forKey: .eosTokenId))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(activation == .tanh ? "gelu_new" : "gelu", forKey: .activation)
        try c.encode(scaleAttentionWeights, forKey: .scaleAttentionWeights)
        try c.encode(scaleAttentionByInverseLayerIndex, forKey: .scaleAttentionByInverseLayerIndex)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
    }

    /// The GELU form behind a transformers `ACT2FN` name (`gelu_new`, `gelu_fast` and
    /// `gelu_pytorch_tanh` are all the tanh approximation).
    static func activation(named name: String) -> GELUApproximation? {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .tanh
        case "gelu": return GELUApproximation.none
        default: return nil
        }
    }
}
