/// Methods that train some of the base model's own weights instead of adding new ones.
///
/// They select their weights when the model is loaded (``trainable(_:)`` is the predicate
/// `ModelLoader.load(_:matrixType:trainable:)` takes) and attach through
/// ``BaseWeightAdapter``, whose hooks are the identity.
public enum BaseWeightMethod: String, CaseIterable, Sendable {
    /// BitFit (Ben Zaken et al. 2022, https://arxiv.org/abs/2106.10199): every bias.
    case bitfit
    /// LayerNorm tuning (Zhao et al. 2024, https://arxiv.org/abs/2312.11420; PEFT
    /// `LN_TUNING`): the weights (and biases) of the normalisation layers.
    case lnTuning = "ln-tuning"
    /// Full fine-tuning: every weight.
    case full

    /// The normalisation modules LayerNorm tuning trains, by their last name component:
    /// PEFT's defaults for Llama (`input_layernorm`, `post_attention_layernorm`, `norm`)
    /// and GPT-2 (`ln_1`, `ln_2`, `ln_f`), written to `target_modules`.
    public static let normModules = ["input_layernorm", "post_attention_layernorm", "norm", "ln_1", "ln_2", "ln_f"]

    /// Whether the checkpoint weight `name` trains under this method.
    public func trainable(_ name: String) -> Bool {
        switch self {
        case .full:
            return true
        case .bitfit:
            return name.hasSuffix(".bias")
        case .lnTuning:
            guard let module = Self.module(of: name) else { return false }
            let leaf = module.split(separator: ".").last.map(String.init) ?? module
            return Self.normModules.contains(leaf)
        }
    }

    /// `model.layers.0.input_layernorm` for `model.layers.0.input_layernorm.weight`.
    static func module(of name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        return String(name[..<dot])
    }

    /// `peft_type` in `adapter_config.json`: PEFT's `LN_TUNING`; Trimtab's own `BITFIT`
    /// and `FULL` (PEFT has neither).
    public var peftType: String {
        switch self {
        case .bitfit: return "BITFIT"
        case .lnTuning: return "LN_TUNING"
        case .full: return "FULL"
        }
    }

    init?(peftType: String) {
        guard let method = Self.allCases.first(where: { $0.peftType == peftType }) else { return nil }
        self = method
    }
}
