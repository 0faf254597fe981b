import Foundation

/// The `adapter_config.json` of a base-weight method.
///
/// For `LN_TUNING` the keys are PEFT 0.21's `LNTuningConfig` (`target_modules`,
/// `exclude_modules`, `modules_to_save` and the common keys), so PEFT loads the directory
/// with `PeftModel.from_pretrained`. `BITFIT` and `FULL` are Trimtab's own types with the
/// same common keys.
public struct BaseWeightConfiguration: Codable, Equatable, Sendable {
    public var peftType: String
    public var taskType: String?
    /// LN tuning: the module names trained (PEFT matches a module whose name equals one
    /// or ends with `.` + one).
    public var targetModules: [String]?
    public var baseModelNameOrPath: String?
    public var inferenceMode: Bool

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case taskType = "task_type"
        case targetModules = "target_modules"
        case excludeModules = "exclude_modules"
        case modulesToSave = "modules_to_save"
        case baseModelNameOrPath = "base_model_name_or_path"
        case inferenceMode = "inference_mode"
        case peftVersion = "peft_version"
        case revision
        case autoMapping = "auto_mapping"
    }

    public init(method: BaseWeightMethod, taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil) {
        peftType = method.peftType
        self.taskType = taskType
        targetModules = method == .lnTuning ? BaseWeightMethod.normModules : nil
        self.baseModelNameOrPath = baseModelNameOrPath
        inferenceMode = true
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.required(String.self, .peftType)
        guard BaseWeightMethod(peftType: peftType) != nil else {
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type",
                                                    reason: "is '\(peftType)', not LN_TUNING, BITFIT or FULL")
        }
        taskType = try c.field(String.self, .taskType)
        if let list = try? c.decodeIfPresent([String].self, forKey: .targetModules) {
            targetModules = list
        } else if try c.field(String.self, .targetModules) != nil {
            throw AdapterError.invalidConfiguration(file: nil, field: "target_modules",
                                                    reason: "is a regular expression; Trimtab reads a list of module names")
        } else {
            targetModules = nil
        }
        if let exclude = try? c.decodeIfPresent([String].self, forKey: .excludeModules), !exclude.isEmpty {
            throw AdapterError.invalidConfiguration(file: nil, field: "exclude_modules", reason: "is not supported")
        }
        baseModelNameOrPath = try c.field(String.self, .baseModelNameOrPath)
        inferenceMode = try c.field(Bool.self, .inferenceMode) ?? true
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(SettingsVersion.peft, forKey: .peftVersion)
        try c.encodeNil(forKey: .revision)
        try c.encodeNil(forKey: .autoMapping)
        if peftType == BaseWeightMethod.lnTuning.peftType {
            try c.encode(targetModules, forKey: .targetModules)
            try c.encodeNil(forKey: .excludeModules)
            try c.encodeNil(forKey: .modulesToSave)
        }
    }
}

/// The PEFT release whose file format Trimtab writes.
enum SettingsVersion {
    static let peft = PromptLearningSettings.formatVersion
}
