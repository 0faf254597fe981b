import TrimtabModels
import TrimtabTensor

/// The next-token loss of a batch, computed only where it counts.
///
/// The model's final hidden states `[B, V + T, C]` are flattened to `[B·(V + T), C]`, and
/// the rows of the positions that predict a target (position `t − 1` of real token `t`,
/// shifted by the `V` virtual tokens) are gathered with an embedding lookup over that
/// table. Only those `N` rows go through the output projection: the vocabulary-wide
/// matrix product (49152 columns for SmolLM2) is never computed for positions without
/// loss — the prompt of a classification example, the padding.
public enum LanguageModelLoss {
    /// The hidden states of the positions that predict `batch`'s targets: `[N, C]`.
    public static func targetHiddenStates(model: LanguageModel, batch: TrainingBatch, hooks: ModelHooks?,
                                          tape: Tape) -> Variable {
        let (hidden, virtualCount) = model.hiddenStates(batch.tokens, tape: tape, hooks: hooks, cache: nil)
        let width = hidden.shape[1]
        precondition(width == virtualCount + batch.tokens.length,
                     "hidden states of \(width) positions for \(virtualCount) virtual + \(batch.tokens.length) tokens")
        let flat = tape.reshape(hidden, [batch.batchSize * width, model.hiddenSize])
        return tape.embedding(flat, ids: batch.sourceRows(virtualCount: virtualCount), shape: [batch.targetCount])
    }

    /// Mean cross-entropy of `batch`'s targets (a scalar variable on `tape`).
    ///
    /// - Precondition: the batch has at least one target.
    public static func loss(model: LanguageModel, batch: TrainingBatch, hooks: ModelHooks?, tape: Tape) -> Variable {
        precondition(batch.targetCount > 0, "a batch without targets has no loss")
        let rows = targetHiddenStates(model: model, batch: batch, hooks: hooks, tape: tape)
        return tape.linearCrossEntropy(rows, model.outputProjection, targets: batch.targets)
    }

    /// `log p(target)` of every target of `batch`, in the batch's target order, without
    /// recording anything. The output projection runs over at most `chunk` rows at a
    /// time, so a long batch never holds all its logits at once.
    public static func targetLogProbabilities(model: LanguageModel, batch: TrainingBatch, hooks: ModelHooks?,
                                              chunk: Int = 256) -> [Float] {
        guard batch.targetCount > 0 else { return [] }
        let tape = Tape(recording: false)
        let rows = targetHiddenStates(model: model, batch: batch, hooks: hooks, tape: tape).value
        var out: [Float] = []
        out.reserveCapacity(batch.targetCount)
        var start = 0
        while start < batch.targetCount {
            let end = min(start + chunk, batch.targetCount)
            let logits = model.logits(Variable(rows.rows(start..<end)), tape: tape).value
            out += CrossEntropy.tokenLogProbabilities(logits: logits.floats, targets: Array(batch.targets[start..<end]),
                                                      rows: end - start, vocab: model.vocabularySize)
            start = end
        }
        return out
    }
}
