/// Request limits of the server; requests beyond them get a 400 or 413 naming the limit.
public struct ServeLimits: Sendable, Equatable {
    /// Largest request body, in bytes (413 above).
    public var maxBodyBytes: Int
    /// Largest prompt, in tokens (after the chat format is applied).
    public var maxPromptTokens: Int
    /// Largest `max_tokens` a request may ask for.
    public var maxGenerationTokens: Int
    /// `max_tokens` when a completion request gives none (OpenAI's default is 16).
    public var defaultCompletionTokens: Int

    public init(maxBodyBytes: Int = 1 << 20, maxPromptTokens: Int = 1024, maxGenerationTokens: Int = 512,
                defaultCompletionTokens: Int = 16) {
        self.maxBodyBytes = maxBodyBytes
        self.maxPromptTokens = maxPromptTokens
        self.maxGenerationTokens = maxGenerationTokens
        self.defaultCompletionTokens = defaultCompletionTokens
    }
}
