/// How the next token is chosen from the logits.
///
/// Applied in the order transformers applies its logits processors: repetition penalty,
/// temperature, top-k, top-p; `temperature == 0` is greedy decoding.
public struct SamplingParameters: Sendable, Codable, Equatable {
    /// 0 picks the most likely token; larger values flatten the distribution.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0 = off).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches `topP` (1 = off).
    public var topP: Float
    /// Divides positive (multiplies negative) logits of tokens already in the sequence
    /// (1 = off), as in CTRL and transformers.
    public var repetitionPenalty: Float
    /// Seeds the sampler, so a seed fixes the output.
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters()
}
