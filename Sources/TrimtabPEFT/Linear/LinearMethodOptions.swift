import TrimtabModels

/// The methods that wrap linear layers, made by ``makeLinearAdapter(_:options:model:)``.
public enum LinearMethod: String, Sendable, CaseIterable, Codable {
    /// LoRA (with rsLoRA scaling and DoRA as options), PEFT `LORA`.
    case lora
    /// (IA)³, PEFT `IA3`.
    case ia3
}

/// Choices for a fresh LoRA or (IA)³ adapter.
public struct LinearMethodOptions: Sendable {
    /// `r`.
    public var rank: Int
    /// `lora_alpha` (default: twice the rank, a scaling of 2).
    public var alpha: Double?
    /// `lora_dropout`, in [0, 1).
    public var dropout: Double
    /// `target_modules` (default: LoRA `q_proj, v_proj`; (IA)³ `k_proj, v_proj, down_proj`).
    /// `["all-linear"]` selects every linear layer but the output head.
    public var targetModules: TargetModules?
    /// (IA)³'s `feedforward_modules` (default `down_proj`, where it is a target).
    public var feedforwardModules: [String]?
    /// `layers_to_transform` (LoRA).
    public var layers: [Int]?
    /// `use_rslora`.
    public var rsLoRA: Bool
    /// `use_dora`.
    public var dora: Bool
    /// `bias`.
    public var bias: LoRABias
    /// `init_lora_weights`: `true`, `false` or `"gaussian"`.
    public var initialisation: JSONValue
    /// Seeds LoRA's initial A (and dropout masks).
    public var seed: UInt64
    public var taskType: String
    public var baseModelNameOrPath: String?

    public init(rank: Int = 8, alpha: Double? = nil, dropout: Double = 0, targetModules: TargetModules? = nil,
                feedforwardModules: [String]? = nil, layers: [Int]? = nil, rsLoRA: Bool = false, dora: Bool = false,
                bias: LoRABias = .none, initialisation: JSONValue = .bool(true), seed: UInt64 = 0,
                taskType: String = "CAUSAL_LM", baseModelNameOrPath: String? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.feedforwardModules = feedforwardModules
        self.layers = layers
        self.rsLoRA = rsLoRA
        self.dora = dora
        self.bias = bias
        self.initialisation = initialisation
        self.seed = seed
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
    }
}

/// A fresh, trainable LoRA or (IA)³ adapter for `model`, configured as PEFT's
/// `get_peft_model` with the matching `LoraConfig` / `IA3Config` would be.
///
/// - Throws: ``AdapterError/invalidOption(field:reason:)`` for options that do not fit
///   (the field is the option's Swift name), or a configuration error when the targets
///   select no linear layer of the model.
public func makeLinearAdapter(_ method: LinearMethod, options: LinearMethodOptions,
                              model: LanguageModel) throws -> Adapter {
    if let layers = options.layers {
        if let bad = layers.first(where: { $0 < 0 || $0 >= model.layerCount }) {
            throw AdapterError.invalidOption(field: "layers", reason: "has \(bad); the model has layers 0…\(model.layerCount - 1)")
        }
    }
    switch method {
    case .lora:
        guard options.rank > 0 else {
            throw AdapterError.invalidOption(field: "rank", reason: "must be positive, got \(options.rank)")
        }
        guard options.dropout >= 0 && options.dropout < 1 else {
            throw AdapterError.invalidOption(field: "dropout", reason: "must be in [0, 1), got \(options.dropout)")
        }
        var c = LoRAConfiguration(rank: options.rank, alpha: options.alpha ?? Double(2 * options.rank),
                                  dropout: options.dropout, targetModules: options.targetModules ?? .names(["q_proj", "v_proj"]),
                                  layersToTransform: options.layers, useRSLoRA: options.rsLoRA, useDoRA: options.dora,
                                  bias: options.bias, initLoRAWeights: options.initialisation, taskType: options.taskType,
                                  baseModelNameOrPath: options.baseModelNameOrPath)
        if case .pattern = c.targetModules, !c.targetModules.isAllLinear, options.layers != nil {
            throw AdapterError.invalidOption(field: "layers", reason: "cannot be combined with a regular-expression target")
        }
        c.fanInFanOut = false
        return try LoRAAdapter(configuration: c, model: model, seed: options.seed)
    case .ia3:
        if options.dora || options.rsLoRA || options.bias != .none {
            throw AdapterError.invalidOption(field: options.dora ? "dora" : options.rsLoRA ? "rsLoRA" : "bias",
                                             reason: "applies to LoRA only")
        }
        var targets = options.targetModules ?? .names(["k_proj", "v_proj", "down_proj"])
        if targets.isAllLinear {
            targets = .names(Set(model.linearSites.map(\.leafName)).sorted())
        }
        if let layers = options.layers, case let .names(names) = targets {
            // (IA)³ has no layers_to_transform; select full module paths instead.
            targets = .names(model.linearSites.filter { site in
                layers.contains(site.layer) && names.contains { site.path == $0 || site.path.hasSuffix("." + $0) }
            }.map(\.path))
        }
        // PEFT requires feedforward_modules ⊂ target_modules: keep the targeted ones.
        let ffNames = options.feedforwardModules ?? ["down_proj"]
        var feedforward = TargetModules.names([])
        if case let .names(names) = targets {
            feedforward = .names(names.filter { name in ffNames.contains { name == $0 || name.hasSuffix("." + $0) } })
        } else {
            feedforward = .names(ffNames)
        }
        let c = IA3Configuration(targetModules: targets, feedforwardModules: feedforward, taskType: options.taskType,
                                 baseModelNameOrPath: options.baseModelNameOrPath)
        return try IA3Adapter(configuration: c, model: model)
    }
}
