import Foundation
import TrimtabModels
import TrimtabTensor

// Prompt tuning: Lester, Al-Rfou, Constant, "The Power of Scale for Parameter-Efficient
// Prompt Tuning" (2021), https://arxiv.org/abs/2104.08691.
// Reference: peft `tuners/prompt_tuning/model.py` and `PeftModelForCausalLM.forward`
// (the prompt goes before *all* input embeddings, BOS included).

/// Prompt tuning attached to a model: `P` trainable embeddings prepended to every row.
public final class PromptTuningAdapter: Adapter {
    public private(set) var configuration: PromptTuningConfiguration
    let prompt: PromptEmbedding
    public var isTraining = true

    /// An adapter whose prompt is `prompt` (`[P, C]`), checked against `configuration`
    /// and `model`.
    ///
    /// - Throws: ``AdapterError`` when the prompt's shape does not follow from the
    ///   configuration or `token_dim` is not the model's hidden size.
    public init(configuration: PromptTuningConfiguration, prompt: Tensor, model: LanguageModel) throws {
        let s = configuration.settings
        try s.checkInputWidth(model)
        let expected = [s.virtualTokens * s.transformerSubmodules, s.tokenDim]
        guard prompt.shape == expected else {
            throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: AdapterFiles.promptTensorName,
                                             expected: expected, got: prompt.shape)
        }
        self.configuration = configuration
        self.prompt = PromptEmbedding(weight: prompt.dtype == .f32 ? prompt : prompt.converted(to: .f32))
    }

    public var peftType: String { PromptTuningConfiguration.peftType }

    public var trainableParameters: [String: Variable] { ["embedding.weight": prompt.weight] }

    public func exportedTensors() -> [String: Tensor] {
        [AdapterFiles.promptTensorName: prompt.weight.value.copy()]
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    // MARK: - ModelHooks

    public func steers(_ point: HookPoint) -> Bool { point == .inputEmbeddings }

    public func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
        InputEmbeddings(embeddings: tape.concatSequence([prompt.forward(tape: tape), embeddings]),
                        virtualCount: prompt.virtualTokens)
    }
}
