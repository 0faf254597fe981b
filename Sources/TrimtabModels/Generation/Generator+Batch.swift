import Foundation
import TrimtabTensor

extension Generator {
    /// Generates up to `maxTokens` tokens after each of `prompts`, all rows in one batch
    /// with one KV cache.
    ///
    /// Each row gets what ``generate(prompt:maxTokens:sampling:stopTokens:hooks:contextLimit:onToken:)``
    /// gives it alone (its own sampler, seeded with `sampling.seed`): prompts are
    /// right-padded, padding never advances a row's positions, and a row that has
    /// finished is fed a masked token until the others finish. With
    /// `MixedAdapterHooks` (TrimtabPEFT) as `hooks`, every row has its own adapter.
    ///
    /// - Parameters:
    ///   - prompts: one or more non-empty prompts.
    ///   - hooks: the hooks of the whole batch (row `b` of the batch is prompt `b`).
    ///   - onToken: called with (row, token) for each new token; return `false` to stop
    ///     that row.
    /// - Returns: one result per prompt, in order. Prefill and decode times are the batch's.
    public func generate(prompts: [[Int32]], maxTokens: Int, sampling: SamplingParameters = .greedy,
                         stopTokens: Set<Int32> = [], hooks: ModelHooks? = nil, contextLimit: Int = 4096,
                         onToken: (Int, Int32) -> Bool = { _, _ in true }) -> [GenerationResult] {
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "batched generation needs non-empty prompts")
        let rows = prompts.count
        let tape = Tape(recording: false)
        let virtual = 512  // room for virtual tokens (see the single-row generate)
        let longest = prompts.map(\.count).max() ?? 0
        let cache = model.makeCache(batchSize: rows, capacity: min(contextLimit, longest + maxTokens + virtual))
        var samplers = prompts.map { _ in Sampler(sampling) }
        var histories = prompts
        var generated = [[Int32]](repeating: [], count: rows)
        var finish = [FinishReason](repeating: .length, count: rows)
        var done = [Bool](repeating: maxTokens <= 0, count: rows)
        let c = model.hiddenSize

        let start = Date()
        let prefill = TokenBatch(rows: prompts)
        var (hidden, virtualCount) = model.hiddenStates(prefill, tape: tape, hooks: hooks, cache: cache)
        // The hidden state that predicts each row's next token.
        var last = prompts.map { virtualCount + $0.count - 1 }
        var width = virtualCount + prefill.length
        let prefillEnd = Date()
        var steps = 0
        while steps < maxTokens && done.contains(false) {
            let states = Tensor(zeros: [rows, c])
            for b in 0..<rows {
                (states.floats + b * c).update(from: hidden.value.floats + (b * width + last[b]) * c, count: c)
            }
            let logits = model.logits(Variable(states), tape: tape).value
            var next = [Int32](repeating: 0, count: rows)
            var mask = [UInt8](repeating: 0, count: rows)
            for b in 0..<rows where !done[b] {
                let token = samplers[b].sample(logits.floats + b * model.vocabularySize, vocab: model.vocabularySize,
                                               history: histories[b])
                if stopTokens.contains(token) {
                    finish[b] = .stop
                    done[b] = true
                    continue
                }
                generated[b].append(token)
                histories[b].append(token)
                if !onToken(b, token) {
                    finish[b] = .stop
                    done[b] = true
                    continue
                }
                if generated[b].count >= maxTokens {
                    done[b] = true
                    continue
                }
                next[b] = token
                mask[b] = 1
            }
            steps += 1
            if !done.contains(false) || cache.remaining < 1 { break }
            (hidden, _) = model.hiddenStates(TokenBatch(batchSize: rows, length: 1, ids: next, mask: mask), tape: tape,
                                             hooks: hooks, cache: cache)
            last = [Int](repeating: 0, count: rows)
            width = 1
        }
        let end = Date()
        return (0..<rows).map { b in
            GenerationResult(tokens: generated[b], finishReason: finish[b], promptTokenCount: prompts[b].count,
                             prefillSeconds: prefillEnd.timeIntervalSince(start),
                             decodeSeconds: end.timeIntervalSince(prefillEnd))
        }
    }
}
