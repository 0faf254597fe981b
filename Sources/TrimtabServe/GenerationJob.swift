import TrimtabModels
import TrimtabPEFT

/// What a client asks the engine to generate.
public struct GenerationJob: @unchecked Sendable {
    /// Prompt token ids (at least one).
    public var prompt: [Int32]
    /// The adapter steering this request (`nil`: the base model). Adapters are used only
    /// on the engine's thread.
    public var adapter: Adapter?
    /// At most this many new tokens.
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Token ids that end generation (not reported).
    public var stopTokens: Set<Int32>

    public init(prompt: [Int32], adapter: Adapter?, maxTokens: Int, sampling: SamplingParameters = .greedy,
                stopTokens: Set<Int32> = []) {
        self.prompt = prompt
        self.adapter = adapter
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
    }
}

/// What the engine reports for a job, in order: tokens, then one `finished`.
public enum GenerationEvent: Sendable, Equatable {
    case token(Int32)
    /// `promptTokens` counts the prompt's real tokens (not an adapter's virtual ones).
    case finished(FinishReason, promptTokens: Int, completionTokens: Int)
}

/// Why the engine refused a job.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    /// The waiting queue holds `limit` jobs already.
    case queueFull(limit: Int)
    /// The engine is shutting down.
    case shuttingDown
    /// The prompt and its adapter's virtual tokens do not fit the context.
    case promptTooLong(tokens: Int, limit: Int)
    /// The adapter cannot run in a batch (`reason`).
    case unsupportedAdapter(String)

    public var description: String {
        switch self {
        case let .queueFull(limit): return "the server's queue is full (\(limit) waiting requests); retry later"
        case .shuttingDown: return "the server is shutting down"
        case let .promptTooLong(tokens, limit):
            return "the prompt takes \(tokens) positions with its adapter's virtual tokens; the context holds \(limit)"
        case let .unsupportedAdapter(reason): return reason
        }
    }
}
