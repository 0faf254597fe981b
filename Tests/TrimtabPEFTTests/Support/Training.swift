import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor

/// A few optimisation steps of next-token loss, the way a trainer drives an adapter.
enum Training {
    /// Next-token targets over `[virtual | real]` positions: virtual positions, padding
    /// and each row's last token count for nothing (-100).
    static func targets(_ batch: TokenBatch, virtualCount: Int) -> [Int32] {
        let width = virtualCount + batch.length
        var out = [Int32](repeating: -100, count: batch.batchSize * width)
        for b in 0..<batch.batchSize {
            for t in 0..<(batch.length - 1) where batch.mask[b * batch.length + t + 1] != 0 {
                out[b * width + virtualCount + t] = batch.ids[b * batch.length + t + 1]
            }
        }
        return out
    }

    /// The mean loss of `batch` with `adapter`, on `tape`.
    static func loss(_ model: LanguageModel, _ adapter: Adapter, _ batch: TokenBatch, tape: Tape) -> Variable {
        let (hidden, virtualCount) = model.hiddenStates(batch, tape: tape, hooks: adapter, cache: nil)
        let logits = model.logits(hidden, tape: tape)
        return tape.crossEntropy(logits, targets: targets(batch, virtualCount: virtualCount))
    }

    /// Runs `steps` AdamW steps and returns the loss before each.
    @discardableResult
    static func run(_ model: LanguageModel, _ adapter: Adapter, _ batch: TokenBatch, steps: Int,
                    learningRate: Float) throws -> [Float] {
        let names = adapter.trainableParameters.keys.sorted()
        let parameters = names.compactMap { adapter.trainableParameters[$0] }
        let optimizer = try AdamW(parameters: parameters, learningRate: learningRate, weightDecay: 0)
        var losses: [Float] = []
        let tape = Tape()
        for _ in 0..<steps {
            for p in parameters { p.zeroGrad() }
            let l = loss(model, adapter, batch, tape: tape)
            losses.append(l.value.floats[0])
            tape.backward(from: l)
            optimizer.step()
        }
        return losses
    }
}
