/// One line of a run's `metrics.jsonl`: a training step or an evaluation.
public struct MetricsRecord: Codable, Equatable, Sendable {
    /// What the line records.
    public enum Kind: String, Codable, Sendable {
        /// One optimizer step.
        case train
        /// An evaluation on the validation set.
        case valid
    }

    /// A step or an evaluation.
    public var kind: Kind
    /// Optimizer steps done (1 after the first step).
    public var step: Int
    /// Fractional epochs done.
    public var epoch: Double
    /// Seconds since the run started (resumed runs continue the count).
    public var elapsed: Double

    /// Train: mean loss per target token of the step.
    public var loss: Double?
    /// Train: the learning rate the step used.
    public var learningRate: Double?
    /// Train: global gradient norm before clipping.
    public var gradNorm: Double?
    /// Train: real tokens (input and targets) of the step.
    public var tokens: Int?
    /// Train: tokens per second of the step.
    public var tokensPerSecond: Double?
    /// Peak resident memory of the process so far, in bytes.
    public var peakMemory: Int?

    /// Valid: mean loss per target token.
    public var validLoss: Double?
    /// Valid: perplexity.
    public var validPerplexity: Double?
    /// Valid: accuracy (classification).
    public var validAccuracy: Double?
    /// Valid: exact match (prompt/completion).
    public var validExactMatch: Double?

    /// A record with no metrics yet.
    public init(kind: Kind, step: Int, epoch: Double, elapsed: Double) {
        self.kind = kind
        self.step = step
        self.epoch = epoch
        self.elapsed = elapsed
    }

    enum CodingKeys: String, CodingKey {
        case kind = "type", step, epoch, elapsed, loss
        case learningRate = "lr"
        case gradNorm = "grad_norm"
        case tokens
        case tokensPerSecond = "tokens_per_second"
        case peakMemory = "peak_memory"
        case validLoss = "valid_loss"
        case validPerplexity = "valid_perplexity"
        case validAccuracy = "valid_accuracy"
        case validExactMatch = "valid_exact_match"
    }
}
