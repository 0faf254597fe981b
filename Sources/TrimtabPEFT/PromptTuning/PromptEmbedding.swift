import TrimtabModels
import TrimtabTensor

/// The `P` trainable virtual-token embeddings of prompt tuning (PEFT's `PromptEmbedding`).
final class PromptEmbedding {
    /// `[P, C]`, PEFT's `embedding.weight` and the saved `prompt_embeddings`.
    let weight: Variable

    init(weight: Tensor, trainable: Bool = true) {
        precondition(weight.shape.count == 2, "prompt embedding must be [P, C], got \(weight.shape)")
        self.weight = Variable(weight, requiresGrad: trainable, name: "embedding.weight")
    }

    var virtualTokens: Int { weight.shape[0] }

    /// The prompt as one batch row, `[1, P, C]`.
    func forward(tape: Tape) -> Variable {
        tape.reshape(weight, [1, weight.shape[0], weight.shape[1]])
    }

    // MARK: - Initialisation (PEFT's PromptEmbedding.__init__)

    /// N(0, 1) rows, as a fresh `nn.Embedding`.
    static func random(virtualTokens: Int, tokenDim: Int, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Initializers.normal([virtualTokens, tokenDim], rng: &rng)
    }

    /// The word embeddings of `virtualTokens` ids drawn uniformly from the vocabulary.
    static func sampledVocabulary(virtualTokens: Int, model: LanguageModel, seed: UInt64) throws -> Tensor {
        var rng = SplitMix64(seed: seed)
        let ids = (0..<virtualTokens).map { _ in Int32(rng.next(upperBound: UInt64(model.vocabularySize))) }
        return try WordEmbeddings.rows(of: model, ids: ids)
    }

    /// The ids PEFT copies for `TEXT` init: the text's ids cut to `virtualTokens`, or
    /// repeated ⌈P/n⌉ times and then cut.
    static func textIds(_ ids: [Int32], virtualTokens: Int) -> [Int32] {
        guard !ids.isEmpty else { return [] }
        let repeats = (virtualTokens + ids.count - 1) / ids.count
        return Array(Array([[Int32]](repeating: ids, count: max(repeats, 1)).joined()).prefix(virtualTokens))
    }
}
