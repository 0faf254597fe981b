import Foundation

/// The `adapter_config.json` of a prefix-tuning adapter (`peft_type: PREFIX_TUNING`).
///
/// Prefix tuning (Li & Liang 2021, https://arxiv.org/abs/2101.00190) learns `P` key and
/// value rows for every attention layer. With `prefix_projection: false` the rows are
/// trained directly, which is also P-tuning v2's "deep prompt tuning" (Liu et al. 2022,
/// https://arxiv.org/abs/2110.07602). Reference: peft `tuners/prefix_tuning/config.py`.
///
/// For grouped-query models PEFT writes `token_dim = head_dim × num_key_value_heads` and
/// `num_attention_heads = num_key_value_heads`: the prefix holds key/value heads.
public struct PrefixTuningConfiguration: Codable, Equatable, Sendable {
    public static let peftType = "PREFIX_TUNING"

    public var settings: PromptLearningSettings
    /// `encoder_hidden_size`: the projection's hidden width (PEFT fills in `token_dim`).
    public var encoderHiddenSize: Int
    /// `prefix_projection`: compute the rows with Embedding–Linear–tanh–Linear.
    public var prefixProjection: Bool
    /// `init_weights`: `"zero"` starts the prefix at zero; `nil` is random.
    public var initWeights: String?

    enum CodingKeys: String, CodingKey {
        case encoderHiddenSize = "encoder_hidden_size"
        case prefixProjection = "prefix_projection"
        case initWeights = "init_weights"
    }

    public init(settings: PromptLearningSettings, encoderHiddenSize: Int? = nil, prefixProjection: Bool = false,
                initWeights: String? = nil) {
        self.settings = settings
        self.encoderHiddenSize = encoderHiddenSize ?? settings.tokenDim
        self.prefixProjection = prefixProjection
        self.initWeights = initWeights
    }

    public init(from decoder: Decoder) throws {
        settings = try PromptLearningSettings(from: decoder, expecting: Self.peftType)
        for (field, value) in [("num_layers", settings.layers), ("num_attention_heads", settings.attentionHeads)]
        where value == nil {
            throw AdapterError.invalidConfiguration(file: nil, field: field, reason: "is required for prefix tuning")
        }
        if let heads = settings.attentionHeads, settings.tokenDim % heads != 0 {
            throw AdapterError.invalidConfiguration(
                file: nil, field: "token_dim",
                reason: "(\(settings.tokenDim)) is not a multiple of num_attention_heads (\(heads))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        encoderHiddenSize = try c.positive(.encoderHiddenSize, default: settings.tokenDim)
        prefixProjection = try c.field(Bool.self, .prefixProjection) ?? false
        initWeights = try c.field(String.self, .initWeights)
        if let initWeights, initWeights != "zero" {
            throw AdapterError.invalidConfiguration(file: nil, field: "init_weights",
                                                    reason: "is '\(initWeights)'; expected \"zero\" or null")
        }
    }

    public func encode(to encoder: Encoder) throws {
        try settings.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(encoderHiddenSize, forKey: .encoderHiddenSize)
        try c.encode(prefixProjection, forKey: .prefixProjection)
        try c.encode(initWeights, forKey: .initWeights)
    }

    /// Layers, key/value heads and head width the prefix is shaped for.
    var geometry: (layers: Int, heads: Int, headDim: Int) {
        let layers = settings.layers ?? 0, heads = max(settings.attentionHeads ?? 1, 1)
        return (layers, heads, settings.tokenDim / heads)
    }
}
