import Foundation
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// The checks every method goes through (PEFT's shared test matrix), on a tiny random
/// Llama with grouped-query attention: the prompt methods, LoRA (plain, rsLoRA, DoRA, bias
/// modes) and (IA)³.
final class MethodMatrixTests: XCTestCase {
    private let model = TinyModel.make()
    private let batch = TokenBatch(rows: [[1, 2, 3, 4, 5, 6], [8, 9, 10]], padId: 0)

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-peft-\(UUID().uuidString)", isDirectory: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func forEachMethod(_ body: (String, Adapter) throws -> Void) throws {
        for (label, method, options) in TinyModel.methods {
            let adapter = try makeAdapter(method, options: options, model: model, tokenizer: TinyModel.tokenizer)
            try body(label, adapter)
        }
        for (label, make) in TinyModel.linearMethods {
            try body(label, try make(model))
        }
    }

    /// Logits of the valid positions of every row, flattened.
    private func validLogits(_ adapter: Adapter?) -> [Float] {
        let tape = Tape(recording: false)
        let (hidden, virtualCount) = model.hiddenStates(batch, tape: tape, hooks: adapter, cache: nil)
        let logits = model.logits(hidden, tape: tape).value
        let width = virtualCount + batch.length, vocab = model.vocabularySize
        var out: [Float] = []
        for b in 0..<batch.batchSize {
            for j in 0..<(virtualCount + batch.validCount(row: b)) {
                let base = (b * width + j) * vocab
                out += (0..<vocab).map { logits.floats[base + $0] }
            }
        }
        return out
    }

    func testPromptFactoryShapesAndNames() throws {
        let expected: [String: (String, [Int], [String])] = [
            "prompt tuning, random": ("PROMPT_TUNING", [3, 16], ["embedding.weight"]),
            "prompt tuning, text": ("PROMPT_TUNING", [5, 16], ["embedding.weight"]),
            "P-tuning, MLP": ("P_TUNING", [3, 16], ["embedding.weight", "mlp_head.0.bias", "mlp_head.0.weight",
                                                    "mlp_head.2.bias", "mlp_head.2.weight", "mlp_head.4.bias",
                                                    "mlp_head.4.weight"]),
            // token_dim = head_dim (4) × kv heads (2); 2 layers × 2 × 8 = 32.
            "prefix tuning": ("PREFIX_TUNING", [3, 32], ["embedding.weight"]),
            "prefix tuning, projection": ("PREFIX_TUNING", [3, 32], ["embedding.weight", "transform.0.bias",
                                                                     "transform.0.weight", "transform.2.bias",
                                                                     "transform.2.weight"]),
        ]
        for (label, method, options) in TinyModel.methods {
            let adapter = try makeAdapter(method, options: options, model: model, tokenizer: TinyModel.tokenizer)
            let exported = adapter.exportedTensors()
            XCTAssertEqual(Array(exported.keys), ["prompt_embeddings"], label)
            XCTAssertTrue(adapter.trainableParameters.values.allSatisfy { $0.requiresGrad }, label)
            guard let (type, shape, names) = expected[label] else { continue }
            XCTAssertEqual(adapter.peftType, type, label)
            XCTAssertEqual(exported["prompt_embeddings"]?.shape, shape, label)
            XCTAssertEqual(adapter.trainableParameters.keys.sorted(), names, label)
        }
        let lstm = try makeAdapter(.pTuning, options: TinyModel.methods[4].options, model: model,
                                   tokenizer: TinyModel.tokenizer)
        // 2 layers × 2 directions × 4 tensors, the embedding and mlp_head.0/.2.
        XCTAssertEqual(lstm.trainableParameters.count, 16 + 1 + 4)
        XCTAssertEqual(lstm.trainableParameters["lstm_head.weight_ih_l1_reverse"]?.shape, [20, 10])
        XCTAssertEqual(lstm.trainableParameters["mlp_head.0.weight"]?.shape, [10, 10])
    }

    /// Save, load: the same tensors bit for bit, the same configuration, the same logits.
    func testSaveLoadRoundTrip() throws {
        try forEachMethod { label, adapter in
            let directory = try temporaryDirectory()
            let extras = AdapterExtras(taskKind: "completion", template: "{text}", labelWords: ["good", "bad"],
                                       values: ["steps": "3"])
            try AdapterFiles.save(adapter, to: directory, extras: extras)
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            XCTAssertEqual(files, ["adapter_config.json", "adapter_model.safetensors", "trimtab_config.json"], label)
            let (loaded, loadedExtras) = try AdapterFiles.load(from: directory, model: model)
            XCTAssertEqual(loadedExtras, extras, label)
            XCTAssertEqual(loaded.peftType, adapter.peftType, label)
            XCTAssertEqual(try loaded.encodedConfiguration(), try adapter.encodedConfiguration(), label)
            let before = adapter.exportedTensors(), after = loaded.exportedTensors()
            XCTAssertEqual(before.keys.sorted(), after.keys.sorted(), label)
            for (name, tensor) in before {
                XCTAssertEqual(tensor.shape, after[name]?.shape, "\(label): \(name)")
                XCTAssertEqual(tensor.scalars, after[name]?.scalars, "\(label): \(name) differs after the round trip")
            }
            adapter.isTraining = false
            loaded.isTraining = false
            let a = validLogits(adapter), b = validLogits(loaded)
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-5, "\(label): logits after loading")
            // Saving again over the directory, without extras, drops the stale extras.
            try AdapterFiles.save(loaded, to: directory, extras: nil)
            XCTAssertNil(try AdapterFiles.load(from: directory, model: model).1, label)
        }
    }

    /// The adapter changes the model's output, and only its own parameters get gradients.
    func testGradientsReachOnlyAdapterParameters() throws {
        let base = validLogits(nil)
        try forEachMethod { label, adapter in
            let steered = validLogits(adapter)
            // The last valid position of the last row: the same token with and without the adapter.
            let vocab = model.vocabularySize
            XCTAssertNotEqual(Array(steered.suffix(vocab)), Array(base.suffix(vocab)), "\(label) changes nothing")
            let tape = Tape()
            let loss = Training.loss(model, adapter, batch, tape: tape)
            tape.backward(from: loss)
            for (name, parameter) in model.parameters {
                XCTAssertNil(parameter.grad, "\(label): base parameter \(name) got a gradient")
            }
            for (name, parameter) in adapter.trainableParameters {
                let norm = parameter.grad?.scalars.reduce(0) { $0 + $1 * $1 } ?? 0
                XCTAssertGreaterThan(norm, 0, "\(label): no gradient reached \(name)")
                parameter.zeroGrad()
            }
        }
    }

    /// A few AdamW steps lower the loss, and what is exported follows the parameters.
    func testTrainingLowersLoss() throws {
        try forEachMethod { label, adapter in
            let before = adapter.exportedTensors().mapValues(\.scalars)
            let baseBefore = model.parameters.mapValues(\.value.scalars)
            let losses = try Training.run(model, adapter, batch, steps: 6, learningRate: 0.05)
            XCTAssertLessThan(losses.last ?? .infinity, losses.first ?? 0, "\(label): losses \(losses)")
            XCTAssertNotEqual(adapter.exportedTensors().mapValues(\.scalars), before, label)
            // Only the adapter's parameters moved.
            XCTAssertEqual(model.parameters.mapValues(\.value.scalars), baseBefore, "\(label) changed the base model")
        }
    }

    /// Greedy decoding with the KV cache (virtual tokens once, prefixes every step) gives
    /// the tokens of repeated full forward passes.
    func testCachedGenerationMatchesFullForward() throws {
        let prompt: [Int32] = [1, 2, 3, 7]
        try forEachMethod { label, adapter in
            adapter.isTraining = false
            let cached = Generator(model: model).generate(prompt: prompt, maxTokens: 6, hooks: adapter).tokens
            var history = prompt, full: [Int32] = []
            for _ in 0..<6 {
                let tape = Tape(recording: false)
                let logits = TinyModel.logits(model, adapter, TokenBatch(rows: [history]), tape: tape).value
                let last = logits.floats + (logits.shape[1] - 1) * model.vocabularySize
                var best = 0
                for v in 1..<model.vocabularySize where last[v] > last[best] { best = v }
                full.append(Int32(best))
                history.append(Int32(best))
            }
            XCTAssertEqual(cached, full, label)
        }
    }

    /// The prefix rows are computed once per forward pass, not once per layer.
    func testPrefixComputedOncePerForward() throws {
        let options = PromptMethodOptions(virtualTokens: 3, encoderHiddenSize: 6, prefixProjection: true, seed: 7)
        let adapter = try makeAdapter(.prefixTuning, options: options, model: model, tokenizer: TinyModel.tokenizer)
        let tape = Tape()
        _ = Training.loss(model, adapter, batch, tape: tape)
        // One projection: two linear layers and one tanh for the whole model.
        XCTAssertEqual(tape.histogram[.tanh], 1)
    }
}
