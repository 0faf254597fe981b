import ArgumentParser
import Dispatch
import Foundation
import TrimtabModels
import TrimtabServe

/// `trimtab serve`: the OpenAI-compatible server over one model and a directory of adapters.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model and its adapters over an OpenAI-compatible HTTP API (continuous batching).",
        discussion: """
        Requests name an adapter (a directory under --adapters, loaded on first use) or the base model \
        in their `model` field. SIGTERM or SIGINT stops taking requests and finishes those in flight.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Directory of PEFT adapter directories, one per adapter name.")
    var adapters: String?
    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"
    @Option(help: "Port to listen on.")
    var port = 8080
    @Option(help: "Name of the base model in requests (default: the model file's name).")
    var name: String?
    @Option(help: "Rows decoded together in one step.")
    var maxBatch = 8
    @Option(help: "Requests waiting for a row before new ones get 429.")
    var maxQueue = 64
    @Option(help: "Largest prompt, in tokens.")
    var maxPromptTokens = 1024
    @Option(help: "Largest max_tokens a request may ask for.")
    var maxTokens = 512
    @Option(help: "Largest request body, in bytes.")
    var maxBodyBytes = 1 << 20

    func validate() throws {
        guard maxBatch > 0 else { throw ValidationError("--max-batch must be positive") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0") }
        guard maxPromptTokens > 0, maxTokens > 0, maxBodyBytes > 0 else {
            throw ValidationError("--max-prompt-tokens, --max-tokens and --max-body-bytes must be positive")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        if let adapters {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: adapters, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--adapters \(adapters) is not a directory")
            }
        }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let baseName = name ?? URL(fileURLWithPath: modelOptions.path).deletingPathExtension().lastPathComponent
        let metrics = ServeMetrics()
        // Room for the longest prompt, its answer, and an adapter's virtual tokens.
        let engine = BatchEngine(model: loaded.model,
                                 configuration: EngineConfiguration(maxBatch: maxBatch, maxQueue: maxQueue,
                                                                    contextLength: maxPromptTokens + maxTokens + 128),
                                 metrics: metrics)
        let state = ServerState(baseName: baseName, tokenizer: loaded.tokenizer,
                                registry: AdapterRegistry(directory: adapters.map { URL(fileURLWithPath: $0) },
                                                          model: loaded.model),
                                engine: engine, metrics: metrics,
                                limits: ServeLimits(maxBodyBytes: maxBodyBytes, maxPromptTokens: maxPromptTokens,
                                                    maxGenerationTokens: maxTokens))
        let server = TrimtabServer(state: state)
        FileHandle.standardError.write(Data("trimtab serve: \(baseName) on http://\(host):\(port) (max batch \(maxBatch), queue \(maxQueue))\n".utf8))
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run(host: host, port: port)
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }

    private final class Outcome: @unchecked Sendable {
        var error: Error?
    }
}
