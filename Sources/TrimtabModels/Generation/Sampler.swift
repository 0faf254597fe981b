import Foundation
import TrimtabTensor

/// Picks tokens from logits according to ``SamplingParameters``.
public struct Sampler {
    public let parameters: SamplingParameters
    private var rng: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed)
    }

    /// The next token for one row of `vocab` logits, given the tokens seen so far.
    public mutating func sample(_ logits: UnsafePointer<Float>, vocab: Int, history: [Int32]) -> Int32 {
        var scores = Array(UnsafeBufferPointer(start: logits, count: vocab))
        let p = parameters
        if p.repetitionPenalty != 1 {
            for id in Set(history) where id >= 0 && Int(id) < vocab {
                let s = scores[Int(id)]
                scores[Int(id)] = s > 0 ? s / p.repetitionPenalty : s * p.repetitionPenalty
            }
        }
        if p.temperature <= 0 {
            var best = 0
            for i in 1..<vocab where scores[i] > scores[best] { best = i }
            return Int32(best)
        }
        for i in 0..<vocab { scores[i] /= p.temperature }
        var order = Array(0..<vocab)
        order.sort { scores[$0] > scores[$1] }
        if p.topK > 0 && p.topK < vocab { order.removeLast(vocab - p.topK) }
        let maxScore = scores[order[0]]
        var probs = order.map { Double(exp(scores[$0] - maxScore)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        if p.topP < 1 {
            // Keep tokens until the cumulative probability reaches topP (at least one).
            var cumulative = 0.0, keep = 0
            for prob in probs {
                cumulative += prob
                keep += 1
                if cumulative >= Double(p.topP) { break }
            }
            order.removeLast(order.count - keep)
            probs.removeLast(probs.count - keep)
            let kept = probs.reduce(0, +)
            for i in probs.indices { probs[i] /= kept }
        }
        let u = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        var cumulative = 0.0
        for (i, prob) in probs.enumerated() {
            cumulative += prob
            if u < cumulative { return Int32(order[i]) }
        }
        return Int32(order[order.count - 1])
    }
}
