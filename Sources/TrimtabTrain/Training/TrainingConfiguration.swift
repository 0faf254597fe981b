import TrimtabTensor

/// Every setting of a training run except the model, the method and the data.
///
/// Encoded (in the run's `config.json` and a checkpoint's `trainer_state/`) with the
/// command line's names in snake case (`batch_size`, `grad_accum`). Errors name the
/// command-line flag (`--batch-size`).
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// Passes over the training set; used when ``steps`` is `nil`.
    public var epochs: Int = 1
    /// Optimizer steps; overrides ``epochs``.
    public var steps: Int?
    /// Examples per forward pass.
    public var batchSize: Int = 8
    /// Forward passes per optimizer step (the effective batch is `batchSize × gradAccum`);
    /// the loss is the mean over all target tokens of the step.
    public var gradientAccumulation: Int = 1
    /// Peak learning rate.
    public var learningRate: Float = 3e-2
    /// AdamW's decoupled weight decay.
    public var weightDecay: Double = 0
    /// AdamW's moment decays and ε (torch's defaults).
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var adamEpsilon: Double = 1e-8
    /// A transformers schedule name (``LRSchedule/names``).
    public var schedule: String = "linear"
    /// Warm-up steps of the schedule.
    public var warmupSteps: Int = 0
    /// Floor of `cosine_with_min_lr`, as a fraction of the peak.
    public var minLearningRateRatio: Float = 0
    /// Global gradient-norm clipping; `nil` turns it off.
    public var maxGradNorm: Float? = 1
    /// Longest example in tokens (virtual tokens come on top).
    public var maxSequenceLength: Int = 256
    /// Seeds data order (and nothing else: the adapter has its own seed).
    public var seed: UInt64 = 42
    /// Evaluate on the validation set every N steps; `nil` = once per epoch (and at the end).
    public var evalEvery: Int?
    /// Write a checkpoint every N steps; `nil` = only at the end (or on interrupt).
    public var saveEvery: Int?
    /// Print a progress line every N steps when not on a terminal.
    public var logEvery: Int = 10
    /// Stop after this many evaluations without improvement of the validation metric.
    public var earlyStopPatience: Int?
    /// Rows per forward pass in evaluation; `nil` = twice ``batchSize``.
    public var evalBatchSize: Int?
    /// Batches per length-grouping bucket (see ``LengthGroupedSampler``).
    public var bucketBatches: Int = 50

    /// The defaults; set fields to change them.
    public init() {}

    /// The schedule these settings describe for a run of `totalSteps`.
    public func makeSchedule(totalSteps: Int) throws -> LRSchedule {
        do {
            return try LRSchedule(parsing: schedule, warmupSteps: warmupSteps, totalSteps: totalSteps,
                                  minRatio: minLearningRateRatio)
        } catch {
            throw TrainingError.invalidSetting(name: "schedule", reason: "\(error)")
        }
    }

    /// Throws ``TrainingError/invalidSetting(name:reason:)`` naming the first bad setting.
    public func validate() throws {
        func require(_ ok: Bool, _ name: String, _ reason: String) throws {
            if !ok { throw TrainingError.invalidSetting(name: name, reason: reason) }
        }
        try require(epochs >= 1, "epochs", "must be ≥ 1, got \(epochs)")
        if let steps { try require(steps >= 1, "steps", "must be ≥ 1, got \(steps)") }
        try require(batchSize >= 1, "batch-size", "must be ≥ 1, got \(batchSize)")
        try require(gradientAccumulation >= 1, "grad-accum", "must be ≥ 1, got \(gradientAccumulation)")
        try require(learningRate.isFinite && learningRate > 0, "lr", "must be > 0, got \(learningRate)")
        try require(weightDecay.isFinite && weightDecay >= 0, "weight-decay", "must be ≥ 0, got \(weightDecay)")
        try require(beta1 >= 0 && beta1 < 1, "beta1", "must be in [0, 1), got \(beta1)")
        try require(beta2 >= 0 && beta2 < 1, "beta2", "must be in [0, 1), got \(beta2)")
        try require(adamEpsilon >= 0, "adam-epsilon", "must be ≥ 0, got \(adamEpsilon)")
        let normalized = schedule.lowercased().replacingOccurrences(of: "-", with: "_")
        try require(LRSchedule.names.contains(normalized), "schedule",
                    "unknown schedule \"\(schedule)\"; one of \(LRSchedule.names.joined(separator: ", "))")
        try require(warmupSteps >= 0, "warmup", "must be ≥ 0, got \(warmupSteps)")
        try require(minLearningRateRatio >= 0 && minLearningRateRatio <= 1, "min-lr-ratio",
                    "must be in [0, 1], got \(minLearningRateRatio)")
        if let maxGradNorm { try require(maxGradNorm > 0, "max-grad-norm", "must be > 0, got \(maxGradNorm)") }
        try require(maxSequenceLength >= 2, "max-seq-len", "must be ≥ 2, got \(maxSequenceLength)")
        if let evalEvery { try require(evalEvery >= 1, "eval-every", "must be ≥ 1, got \(evalEvery)") }
        if let saveEvery { try require(saveEvery >= 1, "save-every", "must be ≥ 1, got \(saveEvery)") }
        try require(logEvery >= 1, "log-every", "must be ≥ 1, got \(logEvery)")
        if let earlyStopPatience {
            try require(earlyStopPatience >= 1, "early-stop", "must be ≥ 1, got \(earlyStopPatience)")
        }
        if let evalBatchSize { try require(evalBatchSize >= 1, "eval-batch-size", "must be ≥ 1, got \(evalBatchSize)") }
        try require(bucketBatches >= 1, "bucket-batches", "must be ≥ 1, got \(bucketBatches)")
    }

    enum CodingKeys: String, CodingKey {
        case epochs, steps
        case batchSize = "batch_size"
        case gradientAccumulation = "grad_accum"
        case learningRate = "lr"
        case weightDecay = "weight_decay"
        case beta1, beta2
        case adamEpsilon = "adam_epsilon"
        case schedule
        case warmupSteps = "warmup"
        case minLearningRateRatio = "min_lr_ratio"
        case maxGradNorm = "max_grad_norm"
        case maxSequenceLength = "max_seq_len"
        case seed
        case evalEvery = "eval_every"
        case saveEvery = "save_every"
        case logEvery = "log_every"
        case earlyStopPatience = "early_stop"
        case evalBatchSize = "eval_batch_size"
        case bucketBatches = "bucket_batches"
    }
}
