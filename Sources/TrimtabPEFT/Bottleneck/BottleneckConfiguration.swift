import Foundation

/// The `adapter_config.json` of a bottleneck adapter (`peft_type: BOTTLENECK`).
///
/// Bottleneck adapters (Houlsby et al. 2019, https://arxiv.org/abs/1902.00751; Pfeiffer
/// et al. 2021, https://arxiv.org/abs/2005.00247) are small down-projection →
/// non-linearity → up-projection modules with a skip connection, inserted after a
/// block's attention and/or feed-forward part. Hugging Face PEFT has no such method, so
/// this `peft_type` is Trimtab's own; the keys follow AdapterHub's `BnConfig`
/// (`mh_adapter`, `output_adapter`, `reduction_factor`, `non_linearity`, `scaling`,
/// `init_weights`) and the directory has PEFT's shape (`adapter_config.json` +
/// `adapter_model.safetensors`). docs/ARCHITECTURE.md documents the tensor names.
public struct BottleneckConfiguration: Codable, Equatable, Sendable {
    public static let peftType = "BOTTLENECK"

    /// Where adapters sit.
    public enum Architecture: String, Codable, Sendable, CaseIterable {
        /// After attention and after the feed-forward part (Houlsby et al.).
        case houlsby
        /// After the feed-forward part only (Pfeiffer et al.).
        case pfeiffer
    }

    /// The activation between the projections.
    public enum NonLinearity: String, Codable, Sendable, CaseIterable {
        case relu, gelu, silu, tanh
    }

    /// `architecture`: `houlsby` or `pfeiffer` (sets `mh_adapter` / `output_adapter`).
    public var architecture: Architecture
    /// `reduction_factor`: hidden size ÷ bottleneck width.
    public var reductionFactor: Int
    /// `non_linearity`.
    public var nonLinearity: NonLinearity
    /// `scaling`: the factor on the adapter's output before its skip connection.
    public var scaling: Double
    /// `hidden_size`: the width the adapters read and write (the model's hidden size).
    public var hiddenSize: Int
    /// `num_layers`: blocks of the model.
    public var layers: Int
    /// `init_weights`: `near_identity` (down projection as a fresh `nn.Linear`, up
    /// projection and biases zero, so a fresh adapter is the identity).
    public var initWeights: String
    /// `task_type`, e.g. `CAUSAL_LM`.
    public var taskType: String?
    public var baseModelNameOrPath: String?
    /// `inference_mode` (saved `true`, as PEFT does).
    public var inferenceMode: Bool

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case architecture
        case mhAdapter = "mh_adapter"
        case outputAdapter = "output_adapter"
        case reductionFactor = "reduction_factor"
        case bottleneckSize = "bottleneck_size"
        case nonLinearity = "non_linearity"
        case scaling
        case hiddenSize = "hidden_size"
        case layers = "num_layers"
        case initWeights = "init_weights"
        case taskType = "task_type"
        case baseModelNameOrPath = "base_model_name_or_path"
        case inferenceMode = "inference_mode"
    }

    public init(architecture: Architecture = .pfeiffer, reductionFactor: Int = 16, nonLinearity: NonLinearity = .relu,
                scaling: Double = 1, hiddenSize: Int, layers: Int, taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil) {
        self.architecture = architecture
        self.reductionFactor = reductionFactor
        self.nonLinearity = nonLinearity
        self.scaling = scaling
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.initWeights = "near_identity"
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = true
    }

    /// The bottleneck width: `hidden_size / reduction_factor`, at least 1.
    public var bottleneckSize: Int { max(1, hiddenSize / reductionFactor) }
    /// `mh_adapter`: an adapter after each attention part.
    public var afterAttention: Bool { architecture == .houlsby }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.required(String.self, .peftType)
        guard type == Self.peftType else {
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type",
                                                    reason: "is '\(type)', expected '\(Self.peftType)'")
        }
        let name = try c.field(String.self, .architecture)
        let mh = try c.field(Bool.self, .mhAdapter), output = try c.field(Bool.self, .outputAdapter)
        if let name {
            guard let value = Architecture(rawValue: name.lowercased()) else {
                throw AdapterError.invalidConfiguration(file: nil, field: "architecture",
                                                        reason: "is '\(name)'; expected houlsby or pfeiffer")
            }
            architecture = value
        } else {
            architecture = mh == true ? .houlsby : .pfeiffer
        }
        if let mh, mh != (architecture == .houlsby) {
            throw AdapterError.invalidConfiguration(file: nil, field: "mh_adapter",
                                                    reason: "is \(mh), which contradicts architecture \(architecture.rawValue)")
        }
        if let output, !output {
            throw AdapterError.invalidConfiguration(file: nil, field: "output_adapter",
                                                    reason: "is false; both architectures have an adapter after the feed-forward part")
        }
        reductionFactor = try c.positive(.reductionFactor, default: 16)
        let activation = try c.field(String.self, .nonLinearity) ?? "relu"
        guard let value = NonLinearity(rawValue: activation.lowercased()) else {
            throw AdapterError.invalidConfiguration(file: nil, field: "non_linearity",
                                                    reason: "is '\(activation)'; expected relu, gelu, silu or tanh")
        }
        nonLinearity = value
        scaling = try c.field(Double.self, .scaling) ?? 1
        hiddenSize = try c.positive(.hiddenSize)
        layers = try c.positive(.layers)
        initWeights = try c.field(String.self, .initWeights) ?? "near_identity"
        taskType = try c.field(String.self, .taskType)
        baseModelNameOrPath = try c.field(String.self, .baseModelNameOrPath)
        inferenceMode = try c.field(Bool.self, .inferenceMode) ?? true
        if let size = try c.field(Int.self, .bottleneckSize), size != bottleneckSize {
            throw AdapterError.invalidConfiguration(
                file: nil, field: "bottleneck_size",
                reason: "is \(size), but hidden_size / reduction_factor is \(bottleneckSize)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.peftType, forKey: .peftType)
        try c.encode(architecture.rawValue, forKey: .architecture)
        try c.encode(afterAttention, forKey: .mhAdapter)
        try c.encode(true, forKey: .outputAdapter)
        try c.encode(reductionFactor, forKey: .reductionFactor)
        try c.encode(bottleneckSize, forKey: .bottleneckSize)
        try c.encode(nonLinearity.rawValue, forKey: .nonLinearity)
        try c.encode(scaling, forKey: .scaling)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(layers, forKey: .layers)
        try c.encode(initWeights, forKey: .initWeights)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encode(inferenceMode, forKey: .inferenceMode)
    }
}
