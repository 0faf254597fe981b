import XCTest
import TrimtabModels
import TrimtabTensor
@testable import TrimtabTrain

final class LanguageModelLossTests: XCTestCase {
    /// The gathered loss equals the loss over full logits with every other position ignored,
    /// and so does the soft prompt's gradient; each row alone gives the same token losses
    /// (padding changes nothing).
    func testGatheredLossMatchesFullLogits() throws {
        let model = try TinySetup.model()
        let adapter = SoftPrompt(virtualTokens: 3, hiddenSize: 32)
        let examples = [
            EncodedExample(ids: [10, 20, 30, 40, 50, 60], lossMask: [0, 0, 0, 1, 1, 1]),
            EncodedExample(ids: [11, 21, 31], lossMask: [0, 1, 1]),
            EncodedExample(ids: [12, 22, 32, 42], lossMask: [0, 0, 0, 1]),
        ]
        let batch = TrainingBatch(examples)

        let tape = Tape()
        let loss = LanguageModelLoss.loss(model: model, batch: batch, hooks: adapter, tape: tape)
        tape.backward(from: loss)
        let gathered = loss.value.floats[0]
        let dPrompt = try XCTUnwrap(adapter.prompt.grad).scalars
        adapter.prompt.zeroGrad()

        // Reference: logits at every position, targets shifted by hand.
        let (hidden, v) = model.hiddenStates(batch.tokens, tape: tape, hooks: adapter, cache: nil)
        XCTAssertEqual(v, 3)
        let width = v + batch.tokens.length
        let logits = model.logits(tape.reshape(hidden, [batch.batchSize * width, 32]), tape: tape)
        var targets = [Int32](repeating: -100, count: batch.batchSize * width)
        for (b, e) in examples.enumerated() {
            for t in 1..<e.count where e.lossMask[t] == 1 { targets[b * width + v + t - 1] = e.ids[t] }
        }
        let full = tape.crossEntropy(logits, targets: targets)
        tape.backward(from: full)
        assertClose([gathered], [full.value.floats[0]], atol: 1e-6, rtol: 1e-6, "loss")
        assertClose(dPrompt, try XCTUnwrap(adapter.prompt.grad).scalars, atol: 1e-7, rtol: 1e-4, "d prompt")
        adapter.prompt.zeroGrad()

        // Row by row (no padding): the same per-token log-probabilities.
        let batched = LanguageModelLoss.targetLogProbabilities(model: model, batch: batch, hooks: adapter, chunk: 2)
        let single = examples.flatMap { LanguageModelLoss.targetLogProbabilities(model: model, batch: TrainingBatch([$0]), hooks: adapter) }
        assertClose(batched, single, atol: 2e-5, rtol: 1e-5, "batched vs one row at a time")
        assertClose([-batched.reduce(0, +) / Float(batched.count)], [gathered], atol: 1e-5, rtol: 1e-5, "mean")
    }
}
