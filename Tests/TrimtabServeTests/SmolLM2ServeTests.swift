import Foundation
import Hummingbird
import HummingbirdTesting
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabTestSupport
import XCTest
@testable import TrimtabServe

/// The server on the real SmolLM2-135M-Instruct with adapters made with fixed seeds: a
/// soft prompt initialised from text, a prefix and a LoRA (B perturbed so it matters).
final class SmolLM2ServeTests: XCTestCase {
    func testConcurrentAdaptersMatchAloneOnSmolLM2() async throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let loaded = try ModelLoader.load(TestAssets.smolLM2)
        let model = loaded.model, tokenizer = loaded.tokenizer
        let directory = try ServeFixture.temporaryDirectory().appendingPathComponent("adapters")
        let soft = try makeAdapter(.promptTuning, options: PromptMethodOptions(
            virtualTokens: 6, initialisation: .text, initText: "Answer in French.", seed: 1), model: model, tokenizer: tokenizer)
        try AdapterFiles.save(soft, to: directory.appendingPathComponent("soft"), extras: nil)
        let prefix = try makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 4, seed: 2), model: model,
                                     tokenizer: tokenizer)
        try AdapterFiles.save(prefix, to: directory.appendingPathComponent("prefix"), extras: nil)
        let lora = try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 4, seed: 3), model: model)
        var rng = SplitMix64(seed: 3)
        for (name, v) in lora.trainableParameters where name.contains("lora_B") {
            for i in 0..<v.value.count { v.value.floats[i] = rng.nextNormal() * 0.05 }
        }
        try AdapterFiles.save(lora, to: directory.appendingPathComponent("lora"), extras: nil)

        let state = ServerState(baseName: "smollm2", tokenizer: tokenizer,
                                registry: AdapterRegistry(directory: directory, model: model),
                                engine: BatchEngine(model: model, configuration: EngineConfiguration(maxBatch: 4, contextLength: 96)),
                                metrics: ServeMetrics(), limits: ServeLimits())
        let requests = [("smollm2", "The capital of France is"), ("soft", "The capital of France is"),
                        ("prefix", "My favourite colour is"), ("lora", "My favourite colour is")]
        let maxTokens = 6
        var expected: [String] = []
        for (name, prompt) in requests {
            let adapter = name == "smollm2" ? nil : try state.registry.entry(name).adapter
            let tokens = ServeFixture.alone(model, prompt: tokenizer.encode(prompt, addSpecialTokens: true), adapter: adapter,
                                            maxTokens: maxTokens, stops: [tokenizer.eosId!])
            expected.append(ServeFixture.text(tokens, tokenizer: tokenizer))
        }
        print("SmolLM2 alone: \(expected)")
        XCTAssertGreaterThan(Set(expected).count, 2, "adapters should change the text")
        let cases = Array(zip(requests, expected))
        try await TrimtabServer(state: state).makeApplication(host: "127.0.0.1", port: 0).test(.live) { client in
            let port = try XCTUnwrap(client.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for ((name, prompt), text) in cases {
                    group.addTask {
                        let r = try await postAlone(port: port, "/v1/completions", [
                            "model": name, "prompt": prompt, "max_tokens": maxTokens, "temperature": 0])
                        XCTAssertEqual(r.status, .ok)
                        let choice = try XCTUnwrap((try r.json["choices"] as? [[String: Any]])?.first)
                        XCTAssertEqual(choice["text"] as? String, text, name)
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
