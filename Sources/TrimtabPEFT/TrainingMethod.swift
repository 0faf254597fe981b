import TrimtabModels
import TrimtabText

/// The methods `trimtab train --method` offers, by their command-line names.
public enum TrainingMethod: String, CaseIterable, Sendable {
    case promptTuning = "prompt-tuning"
    case pTuning = "p-tuning"
    case prefixTuning = "prefix-tuning"
    /// Bottleneck adapters (Houlsby / Pfeiffer), ``BottleneckAdapter``.
    case adapter
    /// BitFit: the model's biases (``BaseWeightAdapter``).
    case bitfit
    /// LayerNorm tuning: the model's norm weights (PEFT `LN_TUNING`).
    case lnTuning = "ln-tuning"
    /// Full fine-tuning: every weight.
    case full

    /// The method named `name` (`prompt_tuning` and `PROMPT-TUNING` work too), or `nil`.
    public init?(name: String) {
        self.init(rawValue: name.lowercased().replacingOccurrences(of: "_", with: "-"))
    }

    /// The prompt-learning method behind this one, if it is one.
    public var promptMethod: PromptMethod? {
        switch self {
        case .promptTuning: return .promptTuning
        case .pTuning: return .pTuning
        case .prefixTuning: return .prefixTuning
        case .adapter, .bitfit, .lnTuning, .full: return nil
        }
    }

    /// The base-weight method behind this one, if it is one: the model must then be
    /// loaded with ``trainableWeights`` as its trainable predicate.
    public var baseWeightMethod: BaseWeightMethod? {
        switch self {
        case .bitfit: return .bitfit
        case .lnTuning: return .lnTuning
        case .full: return .full
        case .promptTuning, .pTuning, .prefixTuning, .adapter: return nil
        }
    }

    /// Which checkpoint weights train (pass to `ModelLoader.load(_:matrixType:trainable:)`);
    /// none for methods that add their own parameters.
    public var trainableWeights: @Sendable (String) -> Bool {
        guard let method = baseWeightMethod else { return { _ in false } }
        return { method.trainable($0) }
    }

    /// A learning rate that works for the method on small models: 0.1 for prompt tuning
    /// (beats the zero-shot model within 150 steps on SmolLM2 where PEFT's example 3e-2 is
    /// slower and 0.3 diverges; docs/TRAINING.md, "The default recipe"); PEFT's examples
    /// for P-tuning and prefix tuning (1e-3, 1e-2); 1e-3 for bottleneck adapters (AdapterHub's
    /// 1e-4 is tuned for runs of many epochs), BitFit and LN tuning (BitFit's paper
    /// searches 1e-4…1e-3); 5e-5 for full fine-tuning.
    public var defaultLearningRate: Float {
        switch self {
        case .promptTuning: return 1e-1
        case .pTuning: return 1e-3
        case .prefixTuning: return 1e-2
        case .adapter, .bitfit, .lnTuning: return 1e-3
        case .full: return 5e-5
        }
    }
}

/// Choices for a fresh bottleneck adapter.
public struct BottleneckOptions: Sendable {
    public var architecture: BottleneckConfiguration.Architecture
    public var reductionFactor: Int
    public var nonLinearity: BottleneckConfiguration.NonLinearity
    public var scaling: Double

    public init(architecture: BottleneckConfiguration.Architecture = .pfeiffer, reductionFactor: Int = 16,
                nonLinearity: BottleneckConfiguration.NonLinearity = .relu, scaling: Double = 1) {
        self.architecture = architecture
        self.reductionFactor = reductionFactor
        self.nonLinearity = nonLinearity
        self.scaling = scaling
    }
}

/// The options of every method; each method reads its own part.
public struct MethodOptions: Sendable {
    /// Prompt tuning, P-tuning, prefix tuning; its `seed`, `taskType` and
    /// `baseModelNameOrPath` apply to every method.
    public var prompt: PromptMethodOptions
    public var bottleneck: BottleneckOptions
    /// The base model's name for messages (`SmolLM2-135M-Instruct has no bias terms`).
    public var modelName: String?

    public init(prompt: PromptMethodOptions = PromptMethodOptions(), bottleneck: BottleneckOptions = BottleneckOptions()) {
        self.prompt = prompt
        self.bottleneck = bottleneck
    }
}

/// A fresh, trainable adapter of `method` for `model`.
///
/// - Throws: ``AdapterError/invalidOption(field:reason:)`` for options that do not fit.
public func makeAdapter(_ method: TrainingMethod, options: MethodOptions, model: LanguageModel,
                        tokenizer: Tokenizer) throws -> Adapter {
    if let prompt = method.promptMethod {
        return try makeAdapter(prompt, options: options.prompt, model: model, tokenizer: tokenizer)
    }
    switch method {
    case .adapter:
        let b = options.bottleneck
        guard b.reductionFactor > 0 && b.reductionFactor <= model.hiddenSize else {
            throw AdapterError.invalidOption(field: "reductionFactor",
                                             reason: "must be in 1...\(model.hiddenSize) (the hidden size), got \(b.reductionFactor)")
        }
        let configuration = BottleneckConfiguration(architecture: b.architecture, reductionFactor: b.reductionFactor,
                                                    nonLinearity: b.nonLinearity, scaling: b.scaling,
                                                    hiddenSize: model.hiddenSize, layers: model.layerCount,
                                                    taskType: options.prompt.taskType,
                                                    baseModelNameOrPath: options.prompt.baseModelNameOrPath)
        return try BottleneckAdapter(configuration: configuration, model: model, seed: options.prompt.seed)
    case .bitfit, .lnTuning, .full:
        return try BaseWeightAdapter(method: method.baseWeightMethod!, model: model,
                                     modelName: options.modelName,
                                     configuration: nil).withTask(options.prompt.taskType,
                                                                  base: options.prompt.baseModelNameOrPath)
    case .promptTuning, .pTuning, .prefixTuning:
        preconditionFailure("handled above")
    }
}
