import Foundation

/// The `adapter_config.json` of an (IA)³ adapter (`peft_type: IA3`).
///
/// (IA)³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper
/// than In-Context Learning", https://arxiv.org/abs/2205.05638) learns one vector per
/// wrapped layer: it scales the layer's output, or — for `feedforward_modules` — its
/// input. Reference: peft `tuners/ia3/config.py`; PEFT's Llama defaults are
/// `target_modules = [k_proj, v_proj, down_proj]`, `feedforward_modules = [down_proj]`.
public struct IA3Configuration: Codable, Equatable, Sendable {
    public static let peftType = "IA3"

    /// `target_modules`.
    public var targetModules: TargetModules
    /// `exclude_modules`.
    public var excludeModules: TargetModules?
    /// `feedforward_modules`: the wrapped layers whose input is scaled (a subset of the
    /// targets).
    public var feedforwardModules: TargetModules
    /// `fan_in_fan_out` (weights stored `[in, out]` in the model files; see LoRA).
    public var fanInFanOut: Bool
    /// `init_ia3_weights`: start at 1 (true) — the base model.
    public var initIA3Weights: Bool
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    public var inferenceMode: Bool
    public var peftVersion: String?
    public var autoMapping: JSONValue?

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case targetModules = "target_modules"
        case excludeModules = "exclude_modules"
        case feedforwardModules = "feedforward_modules"
        case fanInFanOut = "fan_in_fan_out"
        case initIA3Weights = "init_ia3_weights"
        case modulesToSave = "modules_to_save"
        case taskType = "task_type"
        case baseModelNameOrPath = "base_model_name_or_path"
        case revision
        case inferenceMode = "inference_mode"
        case peftVersion = "peft_version"
        case autoMapping = "auto_mapping"
    }

    /// PEFT's defaults for Llama-family models.
    public init(targetModules: TargetModules = .names(["k_proj", "v_proj", "down_proj"]),
                feedforwardModules: TargetModules = .names(["down_proj"]), taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil) {
        self.targetModules = targetModules
        excludeModules = nil
        self.feedforwardModules = feedforwardModules
        fanInFanOut = false
        initIA3Weights = true
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
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type", reason: "is '\(type)', expected 'IA3'")
        }
        targetModules = try c.field(TargetModules.self, .targetModules) ?? .names(["k_proj", "v_proj", "down_proj"])
        excludeModules = try c.field(TargetModules.self, .excludeModules)
        feedforwardModules = try c.field(TargetModules.self, .feedforwardModules) ?? .names(["down_proj"])
        fanInFanOut = try c.field(Bool.self, .fanInFanOut) ?? false
        initIA3Weights = try c.field(Bool.self, .initIA3Weights) ?? true
        taskType = try c.field(String.self, .taskType)
        baseModelNameOrPath = try c.field(String.self, .baseModelNameOrPath)
        revision = try c.field(String.self, .revision)
        inferenceMode = try c.field(Bool.self, .inferenceMode) ?? false
        peftVersion = try c.field(String.self, .peftVersion)
        autoMapping = try c.field(JSONValue.self, .autoMapping)
        if let save = try c.field(JSONValue.self, .modulesToSave), save != .null, save != .array([]) {
            throw AdapterError.invalidConfiguration(file: nil, field: "modules_to_save",
                                                    reason: "is set; Trimtab does not train whole modules (expected null)")
        }
        // PEFT (IA3Config.__post_init__): feedforward modules must be a subset of the targets.
        if case let .names(targets) = targetModules, case let .names(ff) = feedforwardModules,
           let stray = ff.first(where: { !targets.contains($0) }) {
            throw AdapterError.invalidConfiguration(file: nil, field: "feedforward_modules",
                                                    reason: "names '\(stray)', which is not in target_modules")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.peftType, forKey: .peftType)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode(excludeModules, forKey: .excludeModules)
        try c.encode(feedforwardModules, forKey: .feedforwardModules)
        try c.encode(fanInFanOut, forKey: .fanInFanOut)
        try c.encode(initIA3Weights, forKey: .initIA3Weights)
        try c.encodeNil(forKey: .modulesToSave)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(revision, forKey: .revision)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(peftVersion ?? PromptLearningSettings.formatVersion, forKey: .peftVersion)
        try c.encode(autoMapping, forKey: .autoMapping)
    }

    var selection: ModuleSelection {
        ModuleSelection(targets: targetModules, excluded: excludeModules, layers: nil, layersPattern: nil)
    }
}
