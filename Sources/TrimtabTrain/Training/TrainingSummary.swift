/// What a run is about to do, for progress displays.
public struct TrainingPlan: Sendable {
    /// Optimizer steps of the whole run.
    /// Steps the run was set to do.
    public var totalSteps: Int
    /// The step the run starts from (after a resume, the checkpoint's).
    public var startStep: Int
    /// Training examples.
    public var examples: Int
    /// Micro-batches per epoch.
    public var batchesPerEpoch: Int
    /// Trainable scalars of the adapter.
    public var trainableParameters: Int
    /// Validation examples (0 without a validation set).
    public var validationExamples: Int
    /// Examples cut to the maximum length.
    public var truncatedExamples: Int
}

/// How a run ended and where its results are.
public struct TrainingSummary: Codable, Equatable, Sendable {
    /// How a run ended.
    public enum Status: String, Codable, Sendable {
        /// Every step ran.
        case completed
        /// The validation metric stopped improving.
        case earlyStopped = "early_stopped"
        /// Stopped on request (Ctrl-C); the last checkpoint resumes it.
        case interrupted
    }

    /// How the run ended.
    public var status: Status
    /// Optimizer steps done.
    public var steps: Int
    public var totalSteps: Int
    /// Mean training loss of the last logged steps.
    public var finalLoss: Double?
    /// The last validation result.
    public var lastEvaluation: EvaluationResult?
    /// The validation metric early stopping follows, its best value and step.
    public var bestMetricName: String?
    public var bestMetric: Double?
    public var bestStep: Int?
    /// Seconds of training (over all resumed sessions).
    public var elapsed: Double
    /// The final adapter (`nil` when interrupted).
    public var adapterDirectory: String?
    /// The adapter of the best validation metric.
    public var bestAdapterDirectory: String?
    /// The last checkpoint written.
    public var checkpointDirectory: String?

    enum CodingKeys: String, CodingKey {
        case status, steps
        case totalSteps = "total_steps"
        case finalLoss = "final_loss"
        case lastEvaluation = "last_evaluation"
        case bestMetricName = "best_metric_name"
        case bestMetric = "best_metric"
        case bestStep = "best_step"
        case elapsed
        case adapterDirectory = "adapter_directory"
        case bestAdapterDirectory = "best_adapter_directory"
        case checkpointDirectory = "checkpoint_directory"
    }
}
