import Foundation
import TrimtabModels
import TrimtabText

/// Text events of one request, as both the streamed and the whole response use them (so
/// the two carry the same text by construction).
enum TextEvent: Sendable {
    case text(String)
    case done(FinishReason, promptTokens: Int, completionTokens: Int)
}

/// Turns a parsed request into an engine job and the engine's tokens into text: the
/// prompt (or chat format), limits, the adapter, stop tokens and stop strings.
struct CompletionService: Sendable {
    let state: ServerState

    /// A checked job for `request`, and the name the response reports.
    func job(for request: CompletionRequest, chat: Bool) throws -> GenerationJob {
        let tokenizer = state.tokenizer
        var stops = Set<Int32>()
        if let eos = tokenizer.eosId, !request.ignoreEOS { stops.insert(eos) }
        let prompt: [Int32]
        let param = chat ? "messages" : "prompt"
        switch request.input {
        case let .text(text):
            prompt = tokenizer.encode(text, addSpecialTokens: true)
        case let .tokens(ids):
            if let bad = ids.first(where: { Int($0) >= state.engine.model.vocabularySize }) {
                throw OpenAIError.invalid("token id \(bad) is outside the vocabulary (\(state.engine.model.vocabularySize))",
                                          param: "prompt")
            }
            prompt = ids
        case let .chat(messages):
            guard let template = tokenizer.chatTemplate else {
                throw OpenAIError.invalid("the model has no chat format this server recognises; use /v1/completions",
                                          param: "messages")
            }
            if let end = tokenizer.tokenToId(template.endOfTurn), !request.ignoreEOS { stops.insert(end) }
            prompt = tokenizer.encode(template.render(messages, addGenerationPrompt: true), addSpecialTokens: true)
        }
        guard !prompt.isEmpty else {
            throw OpenAIError.invalid("'\(param)' encodes to no tokens", param: param)
        }
        let limits = state.limits
        guard prompt.count <= limits.maxPromptTokens else {
            throw OpenAIError.invalid("the prompt has \(prompt.count) tokens; this server takes at most \(limits.maxPromptTokens)",
                                      param: param, code: "context_length_exceeded")
        }
        let maxTokens = request.maxTokens ?? (chat ? limits.maxGenerationTokens : limits.defaultCompletionTokens)
        guard maxTokens <= limits.maxGenerationTokens else {
            throw OpenAIError.invalid("'max_tokens' is \(maxTokens); this server generates at most \(limits.maxGenerationTokens)",
                                      param: "max_tokens")
        }
        let entry = try state.resolve(request.model)
        let positions = prompt.count + (entry?.cachePositions ?? 0)
        let context = state.engine.configuration.contextLength
        guard positions < context else {
            throw OpenAIError.invalid("the prompt takes \(positions) positions with the adapter's virtual tokens; the context holds \(context)",
                                      param: param, code: "context_length_exceeded")
        }
        let sampling = SamplingParameters(temperature: request.temperature, topP: request.topP,
                                          seed: request.seed ?? UInt64.random(in: 0 ... .max))
        return GenerationJob(prompt: prompt, adapter: entry?.adapter, maxTokens: maxTokens, sampling: sampling,
                             stopTokens: stops)
    }

    /// Submits `job` (throwing 429 when the queue is full) and returns its text.
    func run(_ job: GenerationJob, stop: [String]) throws -> AsyncStream<TextEvent> {
        let tokens: AsyncStream<GenerationEvent>
        do {
            tokens = try state.engine.submit(job)
        } catch let error as EngineError {
            switch error {
            case .queueFull:
                throw OpenAIError(status: .tooManyRequests, message: error.description, type: "rate_limit_error",
                                  code: "queue_full")
            case .shuttingDown:
                throw OpenAIError(status: .serviceUnavailable, message: error.description, type: "server_error",
                                  code: "shutting_down")
            case .promptTooLong, .unsupportedAdapter:
                throw OpenAIError.invalid(error.description, param: "model")
            }
        }
        let tokenizer = state.tokenizer
        return AsyncStream { continuation in
            let task = Task {
                var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
                var scanner = StopScanner(stops: stop)
                var generated = 0
                for await event in tokens {
                    switch event {
                    case let .token(id):
                        generated += 1
                        let (text, stopped) = scanner.append(decoder.append(id))
                        if !text.isEmpty { continuation.yield(.text(text)) }
                        if stopped {
                            continuation.yield(.done(.stop, promptTokens: job.prompt.count, completionTokens: generated))
                            continuation.finish()
                            return
                        }
                    case let .finished(reason, promptTokens, completionTokens):
                        var (text, stopped) = scanner.append(decoder.finish())
                        if !stopped { text += scanner.finish() }
                        if !text.isEmpty { continuation.yield(.text(text)) }
                        continuation.yield(.done(stopped ? .stop : reason, promptTokens: promptTokens,
                                                 completionTokens: completionTokens))
                        continuation.finish()
                        return
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
