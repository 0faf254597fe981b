/// Receives a run's events (progress displays, tests). Every method has an empty default.
public protocol TrainingObserver: AnyObject {
    /// Before the first step.
    func trainingWillStart(_ plan: TrainingPlan)
    /// After each optimizer step.
    func stepDidFinish(_ record: MetricsRecord, totalSteps: Int)
    /// After each evaluation on the validation set.
    func evaluationDidFinish(_ result: EvaluationResult, record: MetricsRecord)
    /// A one-line message (a checkpoint written, early stopping, …).
    func note(_ message: String)
    /// When the run ends, however it ends.
    func trainingDidFinish(_ summary: TrainingSummary)
}

// MARK: - Default implementations

extension TrainingObserver {
    public func trainingWillStart(_ plan: TrainingPlan) {}
    public func stepDidFinish(_ record: MetricsRecord, totalSteps: Int) {}
    public func evaluationDidFinish(_ result: EvaluationResult, record: MetricsRecord) {}
    public func note(_ message: String) {}
    public func trainingDidFinish(_ summary: TrainingSummary) {}
}
