/// Sizes of the batching engine.
public struct EngineConfiguration: Sendable, Equatable {
    /// Rows decoded together in one step.
    public var maxBatch: Int
    /// Jobs waiting for a free row; more are refused (HTTP 429).
    public var maxQueue: Int
    /// Positions each row's KV cache holds: prompt, an adapter's virtual tokens and the
    /// generated tokens together.
    public var contextLength: Int

    public init(maxBatch: Int = 8, maxQueue: Int = 64, contextLength: Int = 2048) {
        precondition(maxBatch > 0 && maxQueue >= 0 && contextLength > 1, "invalid engine configuration")
        self.maxBatch = maxBatch
        self.maxQueue = maxQueue
        self.contextLength = contextLength
    }
}
