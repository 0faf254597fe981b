import TrimtabTensor

/// Where a run stands, saved in a checkpoint's `trainer_state/state.json` beside the
/// trainable parameters (`parameters.safetensors`) and the optimizer state
/// (`optimizer.safetensors`): everything a resumed run needs to continue exactly.
struct TrainerState: Codable, Equatable {
    static let currentVersion = 1

    var version = TrainerState.currentVersion
    /// Optimizer steps done.
    var step = 0
    /// The epoch and the index, within that epoch's batch order, of the next micro-batch.
    var epoch = 0
    var batchInEpoch = 0
    /// The trainer's generator (the data order itself is derived from the seed and epoch).
    var rng: SplitMix64
    /// Best validation metric so far, its step, and evaluations since it improved.
    var bestMetric: Double?
    var bestStep: Int?
    var evalsWithoutImprovement = 0
    /// Seconds of training so far and tokens processed.
    var elapsed: Double = 0
    var tokensSeen = 0
    /// Identifies the encoded training data (count and a hash of every id and mask).
    var dataFingerprint: String
    /// The adapter's PEFT type and its trainable parameters, by name, in optimizer order.
    var peftType: String
    var parameterNames: [String]
    /// The settings the run was started with.
    var configuration: TrainingConfiguration

    enum CodingKeys: String, CodingKey {
        case version, step, epoch
        case batchInEpoch = "batch_in_epoch"
        case rng
        case bestMetric = "best_metric"
        case bestStep = "best_step"
        case evalsWithoutImprovement = "evals_without_improvement"
        case elapsed
        case tokensSeen = "tokens_seen"
        case dataFingerprint = "data_fingerprint"
        case peftType = "peft_type"
        case parameterNames = "parameter_names"
        case configuration
    }

    /// FNV-1a over the examples' ids and masks.
    static func fingerprint(_ examples: [EncodedExample]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) {
            hash ^= v
            hash = hash &* 0x100_0000_01b3
        }
        for e in examples {
            mix(UInt64(e.count))
            for id in e.ids { mix(UInt64(UInt32(bitPattern: id))) }
            for m in e.lossMask { mix(UInt64(m)) }
        }
        return "\(examples.count):" + String(hash, radix: 16)
    }
}
