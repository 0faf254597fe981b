import Foundation
import TrimtabTensor

/// Why generation stopped.
public enum FinishReason: String, Sendable, Codable {
    /// A stop token was produced.
    case stop
    /// The token limit (or the model's context) was reached.
    case length
}

/// The outcome of one generation.
public struct GenerationResult: Sendable {
    /// Generated token ids (without the prompt, without the stop token).
    public var tokens: [Int32]
    public var finishReason: FinishReason
    public var promptTokenCount: Int
    /// Seconds spent on the prompt (prefill) and on the generated tokens (decode).
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    /// Generated tokens per second of decoding.
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0
    }
}

/// Autoregressive decoding of one sequence with a KV cache.
public struct Generator {
    public let model: LanguageModel

    public init(model: LanguageModel) {
        self.model = model
    }

    /// Generates up to `maxTokens` tokens after `prompt`.
    ///
    /// - Parameters:
    ///   - hooks: the adapter steering the model, if any (virtual tokens are prepended on
    ///     the prompt's forward pass only; prefixes apply at every step).
    ///   - stopTokens: ids that end generation (not included in the result).
    ///   - onToken: called with each new token; return `false` to stop early.
    public func generate(prompt: [Int32], maxTokens: Int, sampling: SamplingParameters = .greedy,
                         stopTokens: Set<Int32> = [], hooks: ModelHooks? = nil,
                         contextLimit: Int = 4096,
                         onToken: (Int32) -> Bool = { _ in true }) -> GenerationResult {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        let tape = Tape(recording: false)
        let virtual = 512  // room for virtual tokens a method may prepend (46 KB a position for SmolLM2)
        let capacity = min(contextLimit, prompt.count + maxTokens + virtual)
        let cache = model.makeCache(batchSize: 1, capacity: capacity)
        var sampler = Sampler(sampling)
        var history = prompt
        var generated: [Int32] = []
        var finish = FinishReason.length

        let start = Date()
        var batch = TokenBatch(rows: [prompt])
        var (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: hooks, cache: cache)
        let prefillEnd = Date()
        for _ in 0..<maxTokens {
            let last = hidden.value.reshaped([hidden.value.count / model.hiddenSize, model.hiddenSize])
            let row = Variable(last.rows((last.shape[0] - 1)..<last.shape[0]))
            let logits = model.logits(row, tape: tape).value
            let next = sampler.sample(logits.floats, vocab: model.vocabularySize, history: history)
            if stopTokens.contains(next) {
                finish = .stop
                break
            }
            generated.append(next)
            history.append(next)
            if !onToken(next) {
                finish = .stop
                break
            }
            if cache.remaining < 1 { break }
            batch = TokenBatch(rows: [[next]])
            (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: hooks, cache: cache)
        }
        let end = Date()
        return GenerationResult(tokens: generated, finishReason: finish, promptTokenCount: prompt.count,
                                prefillSeconds: prefillEnd.timeIntervalSince(start),
                                decodeSeconds: end.timeIntervalSince(prefillEnd))
    }
}
