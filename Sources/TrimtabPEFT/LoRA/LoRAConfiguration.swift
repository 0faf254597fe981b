import Foundation

/// Which biases a LoRA adapter trains alongside its low-rank matrices (PEFT's `bias`).
public enum LoRABias: String, Codable, Sendable, CaseIterable {
    /// No bias is trained (the default).
    case none
    /// Every bias of the model's linear layers.
    case all
    /// The biases of the layers LoRA wraps.
    case loraOnly = "lora_only"
}

/// The `adapter_config.json` of a LoRA adapter (`peft_type: LORA`), DoRA included.
///
/// LoRA (Hu et al. 2021, https://arxiv.org/abs/2106.09685) adds `s · B A x` to a frozen
/// linear layer `W x`, `A` `[r, in]`, `B` `[out, r]`, `s = lora_alpha / r` (rsLoRA, Kalajdzievski
/// 2023: `lora_alpha / √r`). DoRA (Liu et al. 2024, https://arxiv.org/abs/2402.09353)
/// rescales each output row of `W + s B A` to a learned magnitude. Reference: peft
/// `tuners/lora/config.py`; the keys written are PEFT 0.21.2's, with its defaults for the
/// variants Trimtab does not implement (those are refused when set on load).
public struct LoRAConfiguration: Codable, Equatable, Sendable {
    public static let peftType = "LORA"

    /// `r`.
    public var rank: Int
    /// `lora_alpha`.
    public var alpha: Double
    /// `lora_dropout`: dropout on the input of `A` while training.
    public var dropout: Double
    /// `target_modules` (`all-linear` is expanded before saving, as PEFT does).
    public var targetModules: TargetModules
    /// `exclude_modules`.
    public var excludeModules: TargetModules?
    /// `layers_to_transform` (PEFT accepts one integer or a list).
    public var layersToTransform: [Int]?
    /// `layers_pattern` (one string or a list).
    public var layersPattern: [String]?
    /// `use_rslora`: scale by `lora_alpha / √r`.
    public var useRSLoRA: Bool
    /// `use_dora`.
    public var useDoRA: Bool
    /// `bias`.
    public var bias: LoRABias
    /// `fan_in_fan_out`: the base stores weights `[in, out]` (GPT-2's Conv1D). Trimtab's
    /// models keep every weight `[out, in]`, so this only matters for the model files.
    public var fanInFanOut: Bool
    /// `init_lora_weights`: `true` (Kaiming-uniform A, zero B), `"gaussian"`, `false`, or
    /// another PEFT scheme (kept as written; the weights come from the file).
    public var initLoRAWeights: JSONValue
    /// `rank_pattern`: regular expression → rank for matching modules.
    public var rankPattern: [String: Int]
    /// `alpha_pattern`: regular expression → alpha for matching modules.
    public var alphaPattern: [String: Double]
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    public var inferenceMode: Bool
    public var peftVersion: String?
    public var autoMapping: JSONValue?

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case rank = "r"
        case alpha = "lora_alpha"
        case dropout = "lora_dropout"
        case targetModules = "target_modules"
        case excludeModules = "exclude_modules"
        case layersToTransform = "layers_to_transform"
        case layersPattern = "layers_pattern"
        case useRSLoRA = "use_rslora"
        case useDoRA = "use_dora"
        case bias
        case fanInFanOut = "fan_in_fan_out"
        case initLoRAWeights = "init_lora_weights"
        case rankPattern = "rank_pattern"
        case alphaPattern = "alpha_pattern"
        case taskType = "task_type"
        case baseModelNameOrPath = "base_model_name_or_path"
        case revision
        case inferenceMode = "inference_mode"
        case peftVersion = "peft_version"
        case autoMapping = "auto_mapping"
        case modulesToSave = "modules_to_save"
        // PEFT 0.21.2's other keys: written with their defaults, refused when set.
        case loraBias = "lora_bias"
        case useQALoRA = "use_qalora"
        case qaLoRAGroupSize = "qalora_group_size"
        case layerReplication = "layer_replication"
        case targetParameters = "target_parameters"
        case trainableTokenIndices = "trainable_token_indices"
        case aloraInvocationTokens = "alora_invocation_tokens"
        case arrowConfig = "arrow_config"
        case useBDLoRA = "use_bdlora"
        case loftqConfig = "loftq_config"
        case megatronConfig = "megatron_config"
        case megatronCore = "megatron_core"
        case evaConfig = "eva_config"
        case cordaConfig = "corda_config"
        case kasaConfig = "kasa_config"
        case loraGAConfig = "lora_ga_config"
        case monteCLoRAConfig = "monteclora_config"
        case veloraConfig = "velora_config"
        case ensureWeightTying = "ensure_weight_tying"
    }

    /// A configuration with PEFT's defaults (`r = 8`, `lora_alpha = 8`, no dropout).
    public init(rank: Int = 8, alpha: Double = 8, dropout: Double = 0,
                targetModules: TargetModules = .names(["q_proj", "v_proj"]), layersToTransform: [Int]? = nil,
                useRSLoRA: Bool = false, useDoRA: Bool = false, bias: LoRABias = .none,
                initLoRAWeights: JSONValue = .bool(true), taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        excludeModules = nil
        self.layersToTransform = layersToTransform
        layersPattern = nil
        self.useRSLoRA = useRSLoRA
        self.useDoRA = useDoRA
        self.bias = bias
        fanInFanOut = false
        self.initLoRAWeights = initLoRAWeights
        rankPattern = [:]
        alphaPattern = [:]
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        revision = nil
        inferenceMode = true
        peftVersion = PromptLearningSettings.formatVersion
        autoMapping = nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.required(String.self, .peftType)
        guard type == Self.peftType else {
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type", reason: "is '\(type)', expected 'LORA'")
        }
        rank = try c.positive(.rank, default: 8)
        alpha = try c.field(Double.self, .alpha) ?? 8
        dropout = try c.probability(.dropout, default: 0)
        targetModules = try c.field(TargetModules.self, .targetModules) ?? .names(["q_proj", "v_proj"])
        excludeModules = try c.field(TargetModules.self, .excludeModules)
        for (key, value) in [(CodingKeys.targetModules, Optional(targetModules)), (.excludeModules, excludeModules)] {
            if case let .pattern(p)? = value, !PEFTRegex.isValid(p) {
                throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue,
                                                        reason: "'\(p)' is not a valid regular expression")
            }
        }
        if let one = try? c.decodeIfPresent(Int.self, forKey: .layersToTransform) {
            layersToTransform = [one]
        } else {
            layersToTransform = try c.field([Int].self, .layersToTransform)
        }
        if let one = try? c.decodeIfPresent(String.self, forKey: .layersPattern) {
            layersPattern = [one]
        } else {
            layersPattern = try c.field([String].self, .layersPattern)
        }
        if case .pattern = targetModules, !targetModules.isAllLinear, layersToTransform != nil {
            throw AdapterError.invalidConfiguration(file: nil, field: "layers_to_transform",
                                                    reason: "cannot be used when target_modules is a regular expression")
        }
        useRSLoRA = try c.field(Bool.self, .useRSLoRA) ?? false
        useDoRA = try c.field(Bool.self, .useDoRA) ?? false
        let rawBias = try c.field(String.self, .bias) ?? "none"
        guard let bias = LoRABias(rawValue: rawBias) else {
            throw AdapterError.invalidConfiguration(file: nil, field: "bias",
                                                    reason: "is '\(rawBias)'; expected none, all or lora_only")
        }
        self.bias = bias
        fanInFanOut = try c.field(Bool.self, .fanInFanOut) ?? false
        initLoRAWeights = try c.field(JSONValue.self, .initLoRAWeights) ?? .bool(true)
        rankPattern = try c.field([String: Int].self, .rankPattern) ?? [:]
        alphaPattern = try c.field([String: Double].self, .alphaPattern) ?? [:]
        for (pattern, r) in rankPattern where r <= 0 {
            throw AdapterError.invalidConfiguration(file: nil, field: "rank_pattern",
                                                    reason: "gives '\(pattern)' rank \(r); ranks must be positive")
        }
        taskType = try c.field(String.self, .taskType)
        baseModelNameOrPath = try c.field(String.self, .baseModelNameOrPath)
        revision = try c.field(String.self, .revision)
        inferenceMode = try c.field(Bool.self, .inferenceMode) ?? false
        peftVersion = try c.field(String.self, .peftVersion)
        autoMapping = try c.field(JSONValue.self, .autoMapping)
        // Variants that change the forward pass or the saved tensors.
        if try c.field(Bool.self, .loraBias) == true {
            throw AdapterError.invalidConfiguration(file: nil, field: "lora_bias", reason: "true is not supported (lora_B without bias only)")
        }
        if try c.field(Bool.self, .useQALoRA) == true {
            throw AdapterError.invalidConfiguration(file: nil, field: "use_qalora", reason: "true is not supported")
        }
        for key in [CodingKeys.modulesToSave, .layerReplication, .targetParameters, .trainableTokenIndices,
                    .aloraInvocationTokens, .arrowConfig, .useBDLoRA] {
            let value = try c.field(JSONValue.self, key)
            if let value, value != .null, value != .array([]) {
                throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue,
                                                        reason: "is set; Trimtab supports only plain LoRA and DoRA on linear layers (expected null)")
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.peftType, forKey: .peftType)
        try c.encode(rank, forKey: .rank)
        try c.encode(JSONValue.number(alpha), forKey: .alpha)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode(excludeModules, forKey: .excludeModules)
        try c.encode(layersToTransform, forKey: .layersToTransform)
        try c.encode(layersPattern, forKey: .layersPattern)
        try c.encode(useRSLoRA, forKey: .useRSLoRA)
        try c.encode(useDoRA, forKey: .useDoRA)
        try c.encode(bias, forKey: .bias)
        try c.encode(fanInFanOut, forKey: .fanInFanOut)
        try c.encode(initLoRAWeights, forKey: .initLoRAWeights)
        try c.encode(rankPattern, forKey: .rankPattern)
        try c.encode(alphaPattern.mapValues(JSONValue.number), forKey: .alphaPattern)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(revision, forKey: .revision)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(peftVersion ?? PromptLearningSettings.formatVersion, forKey: .peftVersion)
        try c.encode(autoMapping, forKey: .autoMapping)
        try c.encodeNil(forKey: .modulesToSave)
        try c.encode(false, forKey: .loraBias)
        try c.encode(false, forKey: .useQALoRA)
        try c.encode(16, forKey: .qaLoRAGroupSize)
        try c.encode([String: Int](), forKey: .loftqConfig)
        try c.encode("megatron.core", forKey: .megatronCore)
        try c.encode(false, forKey: .ensureWeightTying)
        for key in [CodingKeys.layerReplication, .targetParameters, .trainableTokenIndices, .aloraInvocationTokens,
                    .arrowConfig, .useBDLoRA, .megatronConfig, .evaConfig, .cordaConfig, .kasaConfig, .loraGAConfig,
                    .monteCLoRAConfig, .veloraConfig] {
            try c.encodeNil(forKey: key)
        }
    }

    /// The modules this configuration wraps.
    var selection: ModuleSelection {
        ModuleSelection(targets: targetModules, excluded: excludeModules, layers: layersToTransform,
                        layersPattern: layersPattern)
    }

    /// The rank of the module at `path` (`rank_pattern` first, as PEFT's `get_pattern_key`).
    func rank(for path: String) -> Int {
        Self.patternValue(rankPattern, path) ?? rank
    }

    /// The alpha of the module at `path`.
    func alpha(for path: String) -> Double {
        Self.patternValue(alphaPattern, path) ?? alpha
    }

    /// `lora_alpha / r`, or `lora_alpha / √r` with rsLoRA.
    func scaling(for path: String) -> Float {
        let r = Double(rank(for: path)), a = alpha(for: path)
        return Float(useRSLoRA ? a / r.squareRoot() : a / r)
    }

    /// PEFT's `get_pattern_key`: the first key `k` with `re.match(rf"(.*\.)?({k})$", path)`
    /// (keys taken in sorted order; PEFT takes them in file order).
    private static func patternValue<V>(_ patterns: [String: V], _ path: String) -> V? {
        for key in patterns.keys.sorted() where PEFTRegex.firstGroups(#"(.*\.)?("# + key + ")$", path) != nil {
            return patterns[key]
        }
        return nil
    }
}
