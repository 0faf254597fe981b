import Foundation
import Hummingbird
import HummingbirdTesting
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
@_exported import TrimtabTestSupport
import TrimtabText
import XCTest
@testable import TrimtabServe

/// A tiny model, its tokenizer, and a directory of eight adapters of different kinds.
enum ServeFixture {
    /// The byte-level BPE of `Fixtures/tiny_tokenizer.json` (384 tokens, ChatML specials).
    static func tokenizer() throws -> Tokenizer {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_tokenizer", withExtension: "json"))
        var t = try Tokenizer(contentsOf: url)
        t.eosId = t.tokenToId("<|endoftext|>")
        t.chatTemplate = .chatML
        return t
    }

    static let configuration = LlamaConfiguration(
        vocabularySize: 384, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4, kvHeadCount: 2,
        rmsNormEps: 1e-5, ropeTheta: 10_000, maxPositions: 512, tieWordEmbeddings: false)

    /// A random Llama whose output head is scaled up, so greedy tokens depend visibly on
    /// the context (and on the adapter).
    static func model(seed: UInt64 = 7) throws -> LlamaModel {
        let weights = LlamaModel.randomWeights(configuration, seed: seed)
        for (name, tensor) in weights {
            let scale: Float = name == "lm_head.weight" ? 50 : name.hasSuffix("v_proj.weight") || name.hasSuffix("o_proj.weight") ? 10 : 1
            for i in 0..<tensor.count { tensor.floats[i] *= scale }
        }
        return try LlamaModel(configuration: configuration, weights: weights, source: "tiny")
    }

    /// Adapters of every kind the server mixes: soft prompts of 2, 5 and 9 tokens and one
    /// from text, P-tuning with an MLP and an LSTM encoder, prefix tuning with and without
    /// projection, LoRA, DoRA and (IA)³ (their fresh identity weights perturbed, so they
    /// change the output).
    static let promptAdapters: [(name: String, method: PromptMethod, options: PromptMethodOptions)] = [
        ("soft-2", .promptTuning, PromptMethodOptions(virtualTokens: 2, seed: 11)),
        ("soft-5", .promptTuning, PromptMethodOptions(virtualTokens: 5, seed: 12)),
        ("soft-9", .promptTuning, PromptMethodOptions(virtualTokens: 9, seed: 13)),
        ("soft-text", .promptTuning, PromptMethodOptions(virtualTokens: 4, initialisation: .text,
                                                          initText: "the cat sat", seed: 14)),
        ("ptune-mlp", .pTuning, PromptMethodOptions(virtualTokens: 4, encoder: .mlp, encoderHiddenSize: 8, seed: 15)),
        ("ptune-lstm", .pTuning, PromptMethodOptions(virtualTokens: 3, encoder: .lstm, encoderHiddenSize: 5, seed: 16)),
        ("prefix-3", .prefixTuning, PromptMethodOptions(virtualTokens: 3, seed: 17)),
        ("prefix-proj-6", .prefixTuning, PromptMethodOptions(virtualTokens: 6, encoderHiddenSize: 6,
                                                              prefixProjection: true, seed: 18)),
    ]
    static let linearAdapters: [(name: String, method: LinearMethod, options: LinearMethodOptions)] = [
        ("lora-4", .lora, LinearMethodOptions(rank: 4, seed: 21)),
        ("dora-2", .lora, LinearMethodOptions(rank: 2, dora: true, seed: 22)),
        ("ia3", .ia3, LinearMethodOptions(seed: 23)),
    ]
    static var adapterNames: [String] { promptAdapters.map(\.name) + linearAdapters.map(\.name) }
    /// Eight adapters of different kinds for the concurrency test.
    static let eight = ["soft-2", "soft-9", "soft-text", "ptune-lstm", "prefix-proj-6", "lora-4", "dora-2", "ia3"]

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-serve-tests-\(getpid())")
            .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes every adapter into `directory/<name>` (PEFT format).
    static func writeAdapters(to directory: URL, model: LanguageModel, tokenizer: Tokenizer) throws {
        for (name, method, options) in promptAdapters {
            let adapter = try makeAdapter(method, options: options, model: model, tokenizer: tokenizer)
            try AdapterFiles.save(adapter, to: directory.appendingPathComponent(name), extras: nil)
        }
        for (name, method, options) in linearAdapters {
            let adapter = try makeLinearAdapter(method, options: options, model: model)
            var rng = SplitMix64(seed: options.seed)
            for (parameter, variable) in adapter.trainableParameters {
                let t = variable.value
                if parameter.contains("lora_B") {
                    for i in 0..<t.count { t.floats[i] = rng.nextNormal() * 0.5 }
                } else if method == .ia3 {
                    for i in 0..<t.count { t.floats[i] = 1 + rng.nextNormal() * 0.5 }
                }
            }
            try AdapterFiles.save(adapter, to: directory.appendingPathComponent(name), extras: nil)
        }
    }

    /// A server state over the tiny model with adapters from `directory`.
    static func state(model: LlamaModel, tokenizer: Tokenizer, directory: URL?, engine: EngineConfiguration,
                      limits: ServeLimits = ServeLimits()) -> ServerState {
        let metrics = ServeMetrics()
        return ServerState(baseName: "tiny", tokenizer: tokenizer,
                           registry: AdapterRegistry(directory: directory, model: model),
                           engine: BatchEngine(model: model, configuration: engine, metrics: metrics),
                           metrics: metrics, limits: limits)
    }

    /// Greedy tokens of `prompt` generated alone (``Generator``, batch size 1).
    static func alone(_ model: LanguageModel, prompt: [Int32], adapter: ModelHooks?, maxTokens: Int,
                      stops: Set<Int32>) -> [Int32] {
        Generator(model: model).generate(prompt: prompt, maxTokens: maxTokens, stopTokens: stops, hooks: adapter).tokens
    }

    /// The text the server sends for `tokens` (the same streaming decoder).
    static func text(_ tokens: [Int32], tokenizer: Tokenizer) -> String {
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var text = tokens.map { decoder.append($0) }.joined()
        text += decoder.finish()
        return text
    }
}

/// What the tests read of a response, from the shared test client or a client of its own.
protocol HTTPReply {
    var status: HTTPResponse.Status { get }
    var bytes: ByteBuffer { get }
}

extension TestResponse: HTTPReply {
    var bytes: ByteBuffer { body }
}

extension TestClient.Response: HTTPReply {
    var bytes: ByteBuffer { body ?? ByteBuffer() }
}

/// JSON helpers for responses.
extension HTTPReply {
    var json: [String: Any] {
        get throws {
            let data = Data(bytes.readableBytesView)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                 String(decoding: data, as: UTF8.self))
        }
    }

    /// The `error` object of an OpenAI error response.
    var error: [String: Any] {
        get throws { try XCTUnwrap(try json["error"] as? [String: Any], "no error object") }
    }

    /// The `data:` payloads of a server-sent event stream.
    var events: [String] {
        String(decoding: bytes.readableBytesView, as: UTF8.self)
            .components(separatedBy: "\n\n")
            .filter { !$0.isEmpty }
            .map { $0.hasPrefix("data: ") ? String($0.dropFirst(6)) : "<not data: \($0)>" }
    }
}

extension TestClientProtocol {
    /// POSTs a JSON object.
    func post(_ uri: String, _ object: Any) async throws -> TestResponse {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try await execute(uri: uri, method: .post, headers: [.contentType: "application/json"],
                                 body: ByteBuffer(bytes: data))
    }

    func post(_ uri: String, raw: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: [.contentType: "application/json"],
                          body: ByteBuffer(string: raw))
    }
}

/// POSTs a JSON object on a connection of its own: the shared test client sends its
/// requests one after another on one connection, so concurrent requests need their own.
func postAlone(port: Int, _ uri: String, _ object: Any) async throws -> TestClient.Response {
    let data = try JSONSerialization.data(withJSONObject: object)
    return try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
        try await client.post(uri, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: data))
    }
}
