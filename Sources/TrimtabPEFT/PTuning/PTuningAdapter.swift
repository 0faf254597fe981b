import Foundation
import TrimtabModels
import TrimtabTensor

// P-tuning: Liu et al., "GPT Understands, Too" (2021), https://arxiv.org/abs/2103.10385.
// Reference: peft `tuners/p_tuning/model.py` (PromptEncoder) and `PeftModel.get_prompt`.

/// P-tuning attached to a model: the prompt encoder's output `[P, C]` is prepended to
/// every row.
///
/// PEFT saves only the encoder's output (`prompt_embeddings`), so an adapter loaded from
/// a PEFT directory is a fixed prompt: it steers the model but has no trainable
/// parameters. A fresh adapter (``makeAdapter(_:options:model:tokenizer:)``) trains its
/// encoder; a trainer resumes it by restoring ``trainableParameters`` by name from its own
/// checkpoint (the encoder weights PEFT drops, peft #1607, #2256).
public final class PTuningAdapter: Adapter {
    public private(set) var configuration: PTuningConfiguration
    let encoder: PromptEncoder?
    private let fixedPrompt: Tensor?
    public var isTraining = true
    /// Seeds the LSTM's dropout masks; advanced on every training forward.
    private var dropoutSeed: UInt64

    /// A fresh, trainable encoder with PyTorch's default initialisation drawn from `seed`.
    ///
    /// - Throws: ``AdapterError/modelMismatch(file:field:adapter:model:reason:)`` when
    ///   `token_dim` is not the model's hidden size.
    public init(configuration: PTuningConfiguration, model: LanguageModel, seed: UInt64) throws {
        try configuration.settings.checkInputWidth(model)
        self.configuration = configuration
        encoder = try PromptEncoder(configuration: configuration, seed: seed)
        fixedPrompt = nil
        dropoutSeed = seed ^ 0x5D0F_7E55
    }

    /// A fixed prompt `[P, C]` (a loaded PEFT adapter).
    public init(configuration: PTuningConfiguration, prompt: Tensor, model: LanguageModel) throws {
        let s = configuration.settings
        try s.checkInputWidth(model)
        let expected = [s.virtualTokens * s.transformerSubmodules, s.tokenDim]
        guard prompt.shape == expected else {
            throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: AdapterFiles.promptTensorName,
                                             expected: expected, got: prompt.shape)
        }
        self.configuration = configuration
        encoder = nil
        fixedPrompt = prompt.dtype == .f32 ? prompt : prompt.converted(to: .f32)
        dropoutSeed = 0
    }

    /// Whether the adapter has its encoder (fresh) or is a fixed prompt (loaded).
    public var hasEncoder: Bool { encoder != nil }

    public var peftType: String { PTuningConfiguration.peftType }

    /// The encoder's weights by PyTorch name (`embedding.weight`, `mlp_head.0.weight`,
    /// `lstm_head.weight_ih_l0_reverse`, …); empty for a fixed prompt.
    public var trainableParameters: [String: Variable] { encoder?.parameters ?? [:] }

    public func exportedTensors() -> [String: Tensor] {
        [AdapterFiles.promptTensorName: prompt(tape: Tape(recording: false), training: false).value.copy()]
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    /// The prompt `[P, C]` on `tape`.
    func prompt(tape: Tape, training: Bool) -> Variable {
        guard let encoder else { return Variable(fixedPrompt ?? Tensor(zeros: [0, configuration.settings.tokenDim])) }
        guard training, configuration.encoderDropout > 0 else { return encoder.forward(tape: tape) }
        dropoutSeed &+= 0x9E37_79B9_7F4A_7C15
        return encoder.forward(tape: tape, dropout: Float(configuration.encoderDropout), seed: dropoutSeed)
    }

    // MARK: - ModelHooks

    public func steers(_ point: HookPoint) -> Bool { point == .inputEmbeddings }

    public func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
        let p = prompt(tape: tape, training: isTraining)
        let rows = tape.reshape(p, [1, p.shape[0], p.shape[1]])
        return InputEmbeddings(embeddings: tape.concatSequence([rows, embeddings]), virtualCount: p.shape[0])
    }
}
