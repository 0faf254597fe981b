import Foundation

/// How prompt tuning initialises its virtual tokens (PEFT's `PromptTuningInit`).
public enum PromptTuningInit: String, Codable, Sendable, CaseIterable {
    /// N(0, 1), like a fresh `nn.Embedding` (the default).
    case random = "RANDOM"
    /// Word embeddings of uniformly random vocabulary ids.
    case sampleVocab = "SAMPLE_VOCAB"
    /// Word embeddings of the tokenized `prompt_tuning_init_text`.
    case text = "TEXT"
}

/// The `adapter_config.json` of a prompt-tuning adapter (`peft_type: PROMPT_TUNING`).
///
/// Prompt tuning (Lester et al. 2021, https://arxiv.org/abs/2104.08691) learns `P` input
/// embeddings prepended to every sequence. Reference: peft
/// `tuners/prompt_tuning/config.py`.
public struct PromptTuningConfiguration: Codable, Equatable, Sendable {
    public static let peftType = "PROMPT_TUNING"

    public var settings: PromptLearningSettings
    /// `prompt_tuning_init`.
    public var initialisation: PromptTuningInit
    /// `prompt_tuning_init_text` (required for `TEXT`).
    public var initText: String?
    /// `tokenizer_name_or_path` (required for `TEXT`).
    public var tokenizerNameOrPath: String?
    /// `tokenizer_kwargs` (only with `TEXT`), kept as written.
    public var tokenizerKwargs: JSONValue?

    enum CodingKeys: String, CodingKey {
        case initialisation = "prompt_tuning_init"
        case initText = "prompt_tuning_init_text"
        case tokenizerNameOrPath = "tokenizer_name_or_path"
        case tokenizerKwargs = "tokenizer_kwargs"
    }

    public init(settings: PromptLearningSettings, initialisation: PromptTuningInit = .random, initText: String? = nil,
                tokenizerNameOrPath: String? = nil) {
        self.settings = settings
        self.initialisation = initialisation
        self.initText = initText
        self.tokenizerNameOrPath = tokenizerNameOrPath
        tokenizerKwargs = nil
    }

    public init(from decoder: Decoder) throws {
        settings = try PromptLearningSettings(from: decoder, expecting: Self.peftType)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.field(String.self, .initialisation) ?? PromptTuningInit.random.rawValue
        guard let initialisation = PromptTuningInit(rawValue: raw) else {
            throw AdapterError.invalidConfiguration(file: nil, field: "prompt_tuning_init",
                                                    reason: "is '\(raw)'; expected RANDOM, SAMPLE_VOCAB or TEXT")
        }
        self.initialisation = initialisation
        initText = try c.field(String.self, .initText)
        tokenizerNameOrPath = try c.field(String.self, .tokenizerNameOrPath)
        tokenizerKwargs = try c.field(JSONValue.self, .tokenizerKwargs)
        // PEFT's own checks (PromptTuningConfig.__post_init__).
        if initialisation == .text {
            if (tokenizerNameOrPath ?? "").isEmpty {
                throw AdapterError.invalidConfiguration(file: nil, field: "tokenizer_name_or_path",
                                                        reason: "is required when prompt_tuning_init is TEXT")
            }
            if initText == nil {
                throw AdapterError.invalidConfiguration(file: nil, field: "prompt_tuning_init_text",
                                                        reason: "is required when prompt_tuning_init is TEXT")
            }
        } else if let tokenizerKwargs, tokenizerKwargs != .null, tokenizerKwargs != .object([:]) {
            throw AdapterError.invalidConfiguration(file: nil, field: "tokenizer_kwargs",
                                                    reason: "is only valid when prompt_tuning_init is TEXT")
        }
    }

    public func encode(to encoder: Encoder) throws {
        try settings.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(initialisation, forKey: .initialisation)
        try c.encode(initText, forKey: .initText)
        try c.encode(tokenizerNameOrPath, forKey: .tokenizerNameOrPath)
        try c.encode(tokenizerKwargs, forKey: .tokenizerKwargs)
    }
}
