import Foundation
import TrimtabModels

/// The `adapter_config.json` fields every prompt-learning method shares
/// (PEFT's `PeftConfig` and `PromptLearningConfig`).
///
/// Reference: peft `config.py` (`PeftConfigMixin`, `PeftConfig`, `PromptLearningConfig`)
/// and `utils/other.py` (`_prepare_prompt_learning_config`, which fills `token_dim`,
/// `num_layers` and `num_attention_heads` from the base model's config).
public struct PromptLearningSettings: Equatable, Sendable {
    /// `peft_type`: `PROMPT_TUNING`, `P_TUNING` or `PREFIX_TUNING`.
    public var peftType: String
    /// `task_type`, e.g. `CAUSAL_LM`.
    public var taskType: String?
    /// `num_virtual_tokens`.
    public var virtualTokens: Int
    /// `token_dim`: the model's hidden size (prefix tuning: `head_dim × kv_heads`).
    public var tokenDim: Int
    /// `num_transformer_submodules`: 1 for decoders (2, for encoder-decoders, is not supported).
    public var transformerSubmodules: Int
    /// `num_attention_heads` (prefix tuning: the model's key/value heads).
    public var attentionHeads: Int?
    /// `num_layers`.
    public var layers: Int?
    public var baseModelNameOrPath: String?
    public var revision: String?
    /// `inference_mode` (PEFT saves `true`).
    public var inferenceMode: Bool
    /// `peft_version`: the PEFT version whose format the file follows.
    public var peftVersion: String?
    public var modulesToSave: [String]?
    public var autoMapping: JSONValue?

    /// The PEFT release whose file format Trimtab writes.
    public static let formatVersion = "0.21.2"

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case taskType = "task_type"
        case virtualTokens = "num_virtual_tokens"
        case tokenDim = "token_dim"
        case transformerSubmodules = "num_transformer_submodules"
        case attentionHeads = "num_attention_heads"
        case layers = "num_layers"
        case baseModelNameOrPath = "base_model_name_or_path"
        case revision
        case inferenceMode = "inference_mode"
        case peftVersion = "peft_version"
        case modulesToSave = "modules_to_save"
        case autoMapping = "auto_mapping"
    }

    public init(peftType: String, taskType: String? = "CAUSAL_LM", virtualTokens: Int, tokenDim: Int,
                attentionHeads: Int?, layers: Int?, baseModelNameOrPath: String? = nil) {
        self.peftType = peftType
        self.taskType = taskType
        self.virtualTokens = virtualTokens
        self.tokenDim = tokenDim
        transformerSubmodules = 1
        self.attentionHeads = attentionHeads
        self.layers = layers
        self.baseModelNameOrPath = baseModelNameOrPath
        revision = nil
        inferenceMode = true
        peftVersion = Self.formatVersion
        modulesToSave = nil
        autoMapping = nil
    }

    /// Decodes the shared fields and checks that `peft_type` is `expected`.
    init(from decoder: Decoder, expecting expected: String) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.required(String.self, .peftType)
        guard peftType == expected else {
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type",
                                                    reason: "is '\(peftType)', expected '\(expected)'")
        }
        taskType = try c.field(String.self, .taskType)
        virtualTokens = try c.positive(.virtualTokens)
        tokenDim = try c.positive(.tokenDim)
        transformerSubmodules = try c.positive(.transformerSubmodules, default: 1)
        guard transformerSubmodules == 1 else {
            throw AdapterError.invalidConfiguration(
                file: nil, field: "num_transformer_submodules",
                reason: "is \(transformerSubmodules); only decoder-only models (1) are supported")
        }
        attentionHeads = try c.optionalPositive(.attentionHeads)
        layers = try c.optionalPositive(.layers)
        baseModelNameOrPath = try c.field(String.self, .baseModelNameOrPath)
        revision = try c.field(String.self, .revision)
        inferenceMode = try c.field(Bool.self, .inferenceMode) ?? false
        peftVersion = try c.field(String.self, .peftVersion)
        modulesToSave = try c.field([String].self, .modulesToSave)
        autoMapping = try c.field(JSONValue.self, .autoMapping)
    }

    /// Writes every shared field, `null` included, as PEFT does.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(virtualTokens, forKey: .virtualTokens)
        try c.encode(tokenDim, forKey: .tokenDim)
        try c.encode(transformerSubmodules, forKey: .transformerSubmodules)
        try c.encode(attentionHeads, forKey: .attentionHeads)
        try c.encode(layers, forKey: .layers)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(revision, forKey: .revision)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(peftVersion ?? Self.formatVersion, forKey: .peftVersion)
        try c.encode(modulesToSave, forKey: .modulesToSave)
        try c.encode(autoMapping, forKey: .autoMapping)
    }

    /// Checks that virtual input tokens of width `token_dim` fit `model`'s embeddings.
    func checkInputWidth(_ model: LanguageModel) throws {
        guard tokenDim == model.hiddenSize else {
            throw AdapterError.modelMismatch(file: nil, field: "token_dim", adapter: tokenDim, model: model.hiddenSize,
                                             reason: "the model's hidden size")
        }
    }
}
