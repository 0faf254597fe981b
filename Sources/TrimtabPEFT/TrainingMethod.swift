import TrimtabModels
import TrimtabText

/// The methods `trimtab train --method` offers, by their command-line names.
public enum TrainingMethod: String, CaseIterable, Sendable {
    case promptTuning = "prompt-tuning"
    case pTuning = "p-tuning"
    case prefixTuning = "prefix-tuning"
    /// Bottleneck adapters (Houlsby / Pfeiffer), ``BottleneckAdapter``.
    case adapter

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
        case .adapter: return nil
        }
    }

    /// A learning rate that works for the method on small models: PEFT's examples for the
    /// prompt methods (3e-2, 1e-3, 1e-2); 1e-3 for bottleneck adapters (AdapterHub's
    /// 1e-4 is tuned for runs of many epochs).
    public var defaultLearningRate: Float {
        switch self {
        case .promptTuning: return 3e-2
        case .pTuning: return 1e-3
        case .prefixTuning: return 1e-2
        case .adapter: return 1e-3
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
    case .promptTuning, .pTuning, .prefixTuning:
        preconditionFailure("handled above")
    }
}
