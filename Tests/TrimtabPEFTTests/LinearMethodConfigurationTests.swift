import Foundation
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// Which layers LoRA and (IA)³ wrap (PEFT's matching rules), their configuration files,
/// the bias modes on a model with biases, and the errors bad files get.
final class LinearMethodConfigurationTests: XCTestCase {
    private let model = TinyModel.make()

    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    private func paths(_ adapter: Adapter) -> [String] {
        ((adapter as? LoRAAdapter)?.layers.keys.sorted()) ?? ((adapter as? IA3Adapter)?.layers.keys.sorted() ?? [])
    }

    func testTargetSelection() throws {
        func lora(_ json: String) throws -> [String] {
            paths(try LoRAAdapter(configuration: try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "# + json + "}"),
                                  model: model, seed: 0))
        }
        XCTAssertEqual(try lora(#""target_modules": ["q_proj", "v_proj"]"#),
                       ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                        "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        XCTAssertEqual(try lora(#""target_modules": ["q_proj"], "layers_to_transform": 1"#), ["model.layers.1.self_attn.q_proj"])
        XCTAssertEqual(try lora(#""target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "layers""#),
                       ["model.layers.0.self_attn.q_proj"])
        XCTAssertThrowsError(try lora(#""target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "blocks""#))
        // A regular expression must match the whole path.
        XCTAssertEqual(try lora(#""target_modules": ".*\\.1\\.mlp\\.(up|down)_proj""#),
                       ["model.layers.1.mlp.down_proj", "model.layers.1.mlp.up_proj"])
        XCTAssertEqual(try lora(#""target_modules": "all-linear""#).count, 14)
        XCTAssertEqual(try lora(#""target_modules": "all-linear", "exclude_modules": ["o_proj", "mlp.gate_proj"]"#).count, 10)
        // rank_pattern and alpha_pattern.
        let c = try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "rank_pattern": {"v_proj": 2}, "alpha_pattern": {"layers\\.1\\.self_attn\\.q_proj": 2}}"#)
        let adapter = try LoRAAdapter(configuration: c, model: model, seed: 0)
        XCTAssertEqual(adapter.layers["model.layers.0.self_attn.v_proj"]?.rank, 2)
        XCTAssertEqual(adapter.layers["model.layers.0.self_attn.q_proj"]?.rank, 4)
        XCTAssertEqual(adapter.layers["model.layers.0.self_attn.q_proj"]?.scaling, 2)
        XCTAssertEqual(adapter.layers["model.layers.1.self_attn.q_proj"]?.scaling, 0.5)
        XCTAssertEqual(adapter.layers["model.layers.0.self_attn.v_proj"]?.scaling, 4)
        // rsLoRA: alpha / √r.
        let rs = try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true}"#)
        XCTAssertEqual(try LoRAAdapter(configuration: rs, model: model, seed: 0).layers.values.first?.scaling, 4)
    }

    func testSelectingNothingIsAnError() {
        XCTAssertThrowsError(try makeLinearAdapter(.lora, options: LinearMethodOptions(targetModules: .names(["c_attn"])),
                                                   model: model)) { error in
            XCTAssertTrue("\(error)".contains("target_modules"), "\(error)")
            XCTAssertTrue("\(error)".contains("q_proj"), "\(error)")
        }
        XCTAssertThrowsError(try makeLinearAdapter(.lora, options: LinearMethodOptions(layers: [5]), model: model))
        XCTAssertThrowsError(try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 0), model: model))
        XCTAssertThrowsError(try makeLinearAdapter(.ia3, options: LinearMethodOptions(dora: true), model: model))
    }

    func testIA3Defaults() throws {
        let adapter = try XCTUnwrap(try makeLinearAdapter(.ia3, options: LinearMethodOptions(), model: model) as? IA3Adapter)
        XCTAssertEqual(adapter.layers.count, 6)
        XCTAssertEqual(adapter.trainableParameters["base_model.model.model.layers.0.mlp.down_proj.ia3_l"]?.shape, [1, 32])
        XCTAssertEqual(adapter.trainableParameters["base_model.model.model.layers.1.self_attn.k_proj.ia3_l"]?.shape, [8, 1])
        XCTAssertEqual(adapter.trainableParameters.values.flatMap(\.value.scalars).allSatisfy { $0 == 1 }, true)
        // feedforward_modules must be targets.
        XCTAssertThrowsError(try decode(IA3Configuration.self,
                                        #"{"peft_type": "IA3", "target_modules": ["k_proj"], "feedforward_modules": ["down_proj"]}"#))
        // Restricted to layers: full paths, feed-forward ones kept.
        let one = try XCTUnwrap(try makeLinearAdapter(.ia3, options: LinearMethodOptions(layers: [1]), model: model) as? IA3Adapter)
        XCTAssertEqual(one.layers.keys.sorted(), ["model.layers.1.mlp.down_proj", "model.layers.1.self_attn.k_proj",
                                                  "model.layers.1.self_attn.v_proj"])
        XCTAssertEqual(one.layers["model.layers.1.mlp.down_proj"]?.isFeedforward, true)
    }

    func testConfigurationFilesAreStrict() {
        XCTAssertThrowsError(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "r": 0}"#)) {
            XCTAssertTrue("\($0)".contains("'r'"), "\($0)")
        }
        XCTAssertThrowsError(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "bias": "some"}"#)) {
            XCTAssertTrue("\($0)".contains("'bias'"), "\($0)")
        }
        XCTAssertThrowsError(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "lora_bias": true}"#))
        XCTAssertThrowsError(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "modules_to_save": ["lm_head"]}"#))
        XCTAssertThrowsError(try decode(LoRAConfiguration.self,
                                        #"{"peft_type": "LORA", "target_modules": ".*q_proj", "layers_to_transform": [0]}"#))
        XCTAssertThrowsError(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "target_modules": "(unclosed"}"#))
        // Unknown keys (a newer PEFT) are read without failing.
        XCTAssertNoThrow(try decode(LoRAConfiguration.self, #"{"peft_type": "LORA", "some_future_key": 3}"#))
    }

    /// A missing, misshapen or unexplained tensor is an error naming it.
    func testBadTensorsAreNamed() throws {
        let adapter = try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 2, seed: 1), model: model)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try AdapterFiles.save(adapter, to: directory, extras: nil)
        guard let lora = adapter as? LoRAAdapter else { return XCTFail() }
        var tensors = lora.exportedTensors()
        let name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
        tensors[name] = nil
        XCTAssertThrowsError(try LoRAAdapter(configuration: lora.configuration, tensors: tensors, model: model)) {
            XCTAssertTrue("\($0)".contains(name), "\($0)")
        }
        tensors = lora.exportedTensors()
        tensors[name] = Tensor(zeros: [16, 3])
        XCTAssertThrowsError(try LoRAAdapter(configuration: lora.configuration, tensors: tensors, model: model)) {
            XCTAssertTrue("\($0)".contains("[16, 2]"), "\($0)")
        }
        tensors = lora.exportedTensors()
        tensors["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"] = Tensor(zeros: [2, 16])
        XCTAssertThrowsError(try LoRAAdapter(configuration: lora.configuration, tensors: tensors, model: model)) {
            XCTAssertTrue("\($0)".contains("k_proj"), "\($0)")
        }
    }

    /// `bias = lora_only / all` on a model with q/k/v biases (Qwen2 style): the biases
    /// train, are saved under PEFT's names, load back and merge.
    func testBiasModes() throws {
        var configuration = TinyModel.configuration
        configuration.attentionBias = true
        var weights = LlamaModel.randomWeights(configuration, seed: 3)
        for (name, t) in weights where name.hasSuffix(".bias") {
            for i in 0..<t.count { t.floats[i] = Float(i % 5) * 0.1 - 0.2 }
            weights[name] = t
        }
        let biased = try LlamaModel(configuration: configuration, weights: weights, source: "biased")
        let batch = TokenBatch(rows: [[1, 2, 3, 4, 5], [6, 7]], padId: 0)
        for (mode, expected) in [(LoRABias.loraOnly, 4), (.all, 6)] {
            for dora in [false, true] {
                let adapter = try makeLinearAdapter(.lora, options: LinearMethodOptions(
                    rank: 2, targetModules: .names(["q_proj", "v_proj"]), dora: dora, bias: mode, initialisation: .bool(false),
                    seed: 4), model: biased)
                let biasNames = adapter.trainableParameters.keys.filter { $0.hasSuffix("bias") }.sorted()
                XCTAssertEqual(biasNames.count, expected, "\(mode)")
                XCTAssertTrue(biasNames.contains("base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias"))
                if mode == .all {
                    XCTAssertTrue(biasNames.contains("base_model.model.model.layers.0.self_attn.k_proj.bias"))
                }
                try Training.run(biased, adapter, batch, steps: 3, learningRate: 0.05)
                adapter.isTraining = false
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: directory) }
                try AdapterFiles.save(adapter, to: directory, extras: nil)
                let (loaded, _) = try AdapterFiles.load(from: directory, model: biased)
                let tape = Tape(recording: false)
                let a = TinyModel.logits(biased, adapter, batch, tape: tape).value.scalars
                let b = TinyModel.logits(biased, loaded, batch, tape: tape).value.scalars
                XCTAssertEqual(a, b, "\(mode) dora \(dora)")
                var mergedWeights = biased.parameters.mapValues(\.value)
                for (name, t) in try XCTUnwrap(adapter as? MergeableAdapter).mergedWeights() { mergedWeights[name] = t }
                let merged = try LlamaModel(configuration: configuration, weights: mergedWeights, source: "merged")
                let c = TinyModel.logits(merged, nil, batch, tape: tape).value.scalars
                let diff = zip(a, c).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(diff, 1e-4 * (a.map(abs).max() ?? 1), "merge, \(mode) dora \(dora)")
            }
        }
    }
}
