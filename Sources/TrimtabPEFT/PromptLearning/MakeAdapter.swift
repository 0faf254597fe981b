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
    guard method.accepts(options.initialisation, prefixProjection: options.prefixProjection) else {
        throw AdapterError.invalidOption(field: "initialisation",
                                         reason: "\(options.initialisation) applies to prompt tuning and to prefix tuning "
                                             + "without a projection (text); P-tuning starts from random embeddings, "
                                             + "as in PEFT")
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
        if options.initialisation == .text {
            let ids = try initTextIds(options, tokenizer: tokenizer)
            return try PrefixTuningAdapter(configuration: configuration,
                                           prefix: prefixRows(of: model, reading: ids), model: model)
        }
        return try PrefixTuningAdapter(configuration: configuration, model: model, seed: options.seed)
    }
}

/// The TEXT-init token ids: the tokenized text (with special tokens, as PEFT's
/// `tokenizer(init_text)`) repeated or cut to the virtual token count.
private func initTextIds(_ options: PromptMethodOptions, tokenizer: Tokenizer) throws -> [Int32] {
    guard let text = options.initText, !text.isEmpty else {
        throw AdapterError.invalidOption(field: "initText", reason: "is required for TEXT initialisation")
    }
    let ids = PromptEmbedding.textIds(tokenizer.encode(text, addSpecialTokens: true), virtualTokens: options.virtualTokens)
    guard !ids.isEmpty else {
        throw AdapterError.invalidOption(field: "initText", reason: "tokenizes to no tokens")
    }
    return ids
}

/// Prefix rows `[P, L·2·C']` holding the keys and values the model itself computes for
/// `ids` (Li & Liang 2021, §7.2: initialising the prefix with the activations of real
/// words). The prefix then starts as the text read before every input, which is what
/// it acts as: real tokens take positions P, P+1, … after it.
func prefixRows(of model: LanguageModel, reading ids: [Int32]) -> Tensor {
    let p = ids.count, layers = model.layerCount, width = model.kvHeadCount * model.headDim
    let cache = model.makeCache(batchSize: 1, capacity: p)
    _ = model.hiddenStates(TokenBatch(rows: [ids]), tape: Tape(recording: false), hooks: nil, cache: cache)
    let table = Tensor(zeros: [p, layers * 2 * width])
    for layer in 0..<layers {
        let (key, value) = cache.contents(layer: layer)
        for position in 0..<p {
            let row = table.floats + position * layers * 2 * width
            (row + 2 * layer * width).update(from: key.floats + position * width, count: width)
            (row + (2 * layer + 1) * width).update(from: value.floats + position * width, count: width)
        }
    }
    return table
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
        let ids = try initTextIds(options, tokenizer: tokenizer)
        configuration.initialisation = .text
        configuration.initText = options.initText
        configuration.tokenizerNameOrPath = options.baseModelNameOrPath ?? "base-model-tokenizer"
        prompt = try WordEmbeddings.rows(of: model, ids: ids)
    }
    return try PromptTuningAdapter(configuration: configuration, prompt: prompt, model: model)
}
