import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabText

/// `trimtab generate`: continues a prompt, printing only the generated text on stdout
/// (as it is produced) and statistics on stderr.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt (greedy with --temperature 0)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt.")
    var prompt: String
    @Option(help: "An adapter directory (PEFT format) to steer the model with.")
    var adapter: String?
    @Flag(help: "Wrap the prompt as a user message in the model's chat format.")
    var chat = false
    @Option(help: "System message for --chat (default: the model's own, if its template has one).")
    var system: String?
    @Option(help: "Maximum number of new tokens.")
    var maxTokens = 128
    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0
    @Option(help: "Keep only the K most likely tokens (0 = off).")
    var topK = 0
    @Option(help: "Nucleus sampling threshold (1 = off).")
    var topP: Float = 1
    @Option(help: "Repetition penalty (1 = off).")
    var repetitionPenalty: Float = 1
    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard repetitionPenalty > 0 else { throw ValidationError("--repetition-penalty must be positive") }
    }

    func run() throws {
        let loadStart = Date()
        let loaded = try modelOptions.load()
        let tokenizer = loaded.tokenizer
        let loadSeconds = Date().timeIntervalSince(loadStart)

        var text = prompt
        var stops = Set<Int32>()
        if let eos = tokenizer.eosId { stops.insert(eos) }
        if chat {
            guard let template = tokenizer.chatTemplate else {
                throw ValidationError("\(loaded.source) has no chat template this tool recognises; drop --chat")
            }
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            text = template.render(messages, addGenerationPrompt: true)
            if let end = tokenizer.tokenToId(template.endOfTurn) { stops.insert(end) }
        }
        var hooks: ModelHooks?
        if let adapter {
            let loadedAdapter = try AdapterFiles.load(from: URL(fileURLWithPath: adapter), model: loaded.model).0
            loadedAdapter.isTraining = false  // no dropout while generating
            hooks = loadedAdapter
        }
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }

        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP,
                                          repetitionPenalty: repetitionPenalty, seed: seed)
        let result = Generator(model: loaded.model).generate(
            prompt: ids, maxTokens: maxTokens, sampling: sampling, stopTokens: stops, hooks: hooks) { token in
            let piece = decoder.append(token)
            if !piece.isEmpty { FileHandle.standardOutput.write(Data(piece.utf8)) }
            return true
        }
        let tail = decoder.finish()
        FileHandle.standardOutput.write(Data((tail + "\n").utf8))
        let stats = String(format: "[%d prompt tokens, %d generated (%@); load %.2f s, prefill %.2f s (%.0f tok/s), decode %.1f tok/s]\n",
                           result.promptTokenCount, result.tokens.count, result.finishReason.rawValue, loadSeconds,
                           result.prefillSeconds, Double(result.promptTokenCount) / max(result.prefillSeconds, 1e-9),
                           result.decodeTokensPerSecond)
        FileHandle.standardError.write(Data(stats.utf8))
    }
}
