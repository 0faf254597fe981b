import TrimtabTensor

/// The prompt-learning methods ``makeAdapter(_:options:model:tokenizer:)`` creates.
public enum PromptMethod: String, Sendable, CaseIterable, Codable {
    /// Trainable input embeddings (PEFT `PROMPT_TUNING`).
    case promptTuning
    /// Input embeddings computed by an MLP or LSTM encoder (PEFT `P_TUNING`).
    case pTuning
    /// Trainable key/value rows in every attention layer (PEFT `PREFIX_TUNING`; without
    /// projection also P-tuning v2).
    case prefixTuning

    /// Whether the method can start from `initialisation`: every kind for prompt tuning;
    /// random or text (the model's own keys and values) for prefix tuning without a
    /// projection; random otherwise, as in PEFT.
    public func accepts(_ initialisation: PromptInit, prefixProjection: Bool) -> Bool {
        switch self {
        case .promptTuning: return true
        case .prefixTuning: return initialisation == .random || (initialisation == .text && !prefixProjection)
        case .pTuning: return initialisation == .random
        }
    }
}

/// How prompt tuning (and, for `text`, prefix tuning) starts its virtual tokens.
public enum PromptInit: String, Sendable, CaseIterable, Codable {
    /// N(0, 1).
    case random
    /// Word embeddings of random vocabulary ids.
    case sampleVocab
    /// Word embeddings of ``PromptMethodOptions/initText``, tokenized, cut or repeated to
    /// the number of virtual tokens.
    case text
}

/// Choices for a fresh prompt-learning adapter; the defaults are PEFT's.
public struct PromptMethodOptions: Sendable {
    /// `num_virtual_tokens`.
    public var virtualTokens: Int
    /// The initialisation (``PromptMethod/accepts(_:prefixProjection:)`` says which ones a
    /// method takes).
    public var initialisation: PromptInit
    /// The text for ``PromptInit/text``.
    public var initText: String?
    /// P-tuning's encoder.
    public var encoder: PromptEncoderKind
    /// P-tuning's and the prefix projection's hidden width (default: `token_dim`).
    public var encoderHiddenSize: Int?
    /// P-tuning's LSTM layers.
    public var encoderLayers: Int
    /// P-tuning's LSTM dropout between layers, in [0, 1).
    public var encoderDropout: Double
    /// Prefix tuning through Embedding–Linear–tanh–Linear instead of a direct table.
    public var prefixProjection: Bool
    /// Seeds every random initial value.
    public var seed: UInt64
    /// `task_type` written to the configuration.
    public var taskType: String
    /// `base_model_name_or_path` (and, for TEXT init, `tokenizer_name_or_path`, which PEFT
    /// requires to be non-empty).
    public var baseModelNameOrPath: String?

    public init(virtualTokens: Int = 20, initialisation: PromptInit = .random, initText: String? = nil,
                encoder: PromptEncoderKind = .mlp, encoderHiddenSize: Int? = nil, encoderLayers: Int = 2,
                encoderDropout: Double = 0, prefixProjection: Bool = false, seed: UInt64 = 0,
                taskType: String = "CAUSAL_LM", baseModelNameOrPath: String? = nil) {
        self.virtualTokens = virtualTokens
        self.initialisation = initialisation
        self.initText = initText
        self.encoder = encoder
        self.encoderHiddenSize = encoderHiddenSize
        self.encoderLayers = encoderLayers
        self.encoderDropout = encoderDropout
        self.prefixProjection = prefixProjection
        self.seed = seed
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
    }
}
