import TrimtabModels
import TrimtabTensor
import TrimtabText

/// A fresh, trainable prompt-learning adapter for `model`, configured as PEFT's
/// `get_peft_model` would configure it (`token_dim`, `num_layers`,
/// `num_attention_heads` from the model; key/value heads for prefix tuning).
///
/// - Parameters:
///   - tokenizer: tokenizes ``PromptMethodOptions/initText`` for TEXT init (with the
///     tokenizer's special tokens, as PEFT's `tokenizer(init_text)` does).
/// - Throws: ``AdapterError/invalidOption(field:reason:)`` for options that do not fit
///   the method.
public func makeAdapter(_ method: PromptMethod, options: PromptMethodOptions, model: LanguageModel,
                        tokenizer: Tokenizer) throws -> Adapter {
    guard options.virtualTokens > 0 else {
        throw AdapterError.invalidOption(field: "virtualTokens", reason: "must be positive, got \(options.virtualTokens)")
    }
    if let hidden = options.encoderHiddenSize, hidden <= 0 {
        throw AdapterError.invalidOption(field: "encoderHiddenSize", reason: "must be positive, got \(hidden)")
    }
    if method != .promptTuning && options.initialisation != .random {
        throw AdapterError.invalidOption(field: "initialisation",
                                         reason: "\(options.initialisation) applies to prompt tuning only; P-tuning "
                                             + "and prefix tuning start from random embeddings, as in PEFT")
    }
    switch method {
    case .promptTuning:
        return try makePromptTuning(options, model: model, tokenizer: tokenizer)
    case .pTuning:
        guard options.encoderLayers > 0 else {
            throw AdapterError.invalidOption(field: "encoderLayers", reason: "must be positive, got \(options.encoderLayers)")
        }
        guard options.encoderDropout >= 0 && options.encoderDropout < 1 else {
            throw AdapterError.invalidOption(field: "encoderDropout", reason: "must be in [0, 1), got \(options.encoderDropout)")
        }
        let settings = PromptLearningSettings(peftType: PTuningConfiguration.peftType, taskType: options.taskType,
                                              virtualTokens: options.virtualTokens, tokenDim: model.hiddenSize,
                                              attentionHeads: model.headCount, layers: model.layerCount,
                                              baseModelNameOrPath: options.baseModelNameOrPath)
        let configuration = PTuningConfiguration(settings: settings, encoder: options.encoder,
                                                 encoderHiddenSize: options.encoderHiddenSize,
                                                 encoderLayers: options.encoderLayers,
                                                 encoderDropout: options.encoderDropout)
        return try PTuningAdapter(configuration: configuration, model: model, seed: options.seed)
    case .prefixTuning:
        // PEFT's _prepare_prompt_learning_config rewrites the geometry for grouped-query
        // attention: the prefix holds key/value heads.
        let settings = PromptLearningSettings(peftType: PrefixTuningConfiguration.peftType, taskType: options.taskType,
                                              virtualTokens: options.virtualTokens,
                                              tokenDim: model.kvHeadCount * model.headDim,
                                              attentionHeads: model.kvHeadCount, layers: model.layerCount,
                                              baseModelNameOrPath: options.baseModelNameOrPath)
        let configuration = PrefixTuningConfiguration(settings: settings, encoderHiddenSize: options.encoderHiddenSize,
                                                      prefixProjection: options.prefixProjection)
        return try PrefixTuningAdapter(configuration: configuration, model: model, seed: options.seed)
    }
}

private func makePromptTuning(_ options: PromptMethodOptions, model: LanguageModel,
                              tokenizer: Tokenizer) throws -> PromptTuningAdapter {
    let p = options.virtualTokens, c = model.hiddenSize
    let settings = PromptLearningSettings(peftType: PromptTuningConfiguration.peftType, taskType: options.taskType,
                                          virtualTokens: p, tokenDim: c, attentionHeads: model.headCount,
                                          layers: model.layerCount, baseModelNameOrPath: options.baseModelNameOrPath)
    var configuration = PromptTuningConfiguration(settings: settings)
    let prompt: Tensor
    switch options.initialisation {
    case .random:
        prompt = PromptEmbedding.random(virtualTokens: p, tokenDim: c, seed: options.seed)
    case .sampleVocab:
        configuration.initialisation = .sampleVocab
        prompt = try PromptEmbedding.sampledVocabulary(virtualTokens: p, model: model, seed: options.seed)
    case .text:
        guard let text = options.initText, !text.isEmpty else {
            throw AdapterError.invalidOption(field: "initText", reason: "is required for TEXT initialisation")
        }
        let ids = PromptEmbedding.textIds(tokenizer.encode(text, addSpecialTokens: true), virtualTokens: p)
        guard !ids.isEmpty else {
            throw AdapterError.invalidOption(field: "initText", reason: "tokenizes to no tokens")
        }
        configuration.initialisation = .text
        configuration.initText = text
        configuration.tokenizerNameOrPath = options.baseModelNameOrPath ?? "base-model-tokenizer"
        prompt = try WordEmbeddings.rows(of: model, ids: ids)
    }
    return try PromptTuningAdapter(configuration: configuration, prompt: prompt, model: model)
}
