import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// BitFit, LayerNorm tuning and full fine-tuning through the shared method checks, on the
/// tiny GPT-2 checkpoint (biases, LayerNorms with biases) and the tiny random Llama (no
/// biases, RMSNorm): the right weights train and nothing else changes, save/load round
/// trip, disabling restores the base, finite differences; and PEFT's LN_TUNING files on
/// SmolLM2 both ways.
final class BaseWeightMethodTests: XCTestCase {
    /// The tiny GPT-2 written by transformers (Tests/TrimtabModelsTests/Fixtures/tiny/gpt2).
    static let gpt2Path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TrimtabModelsTests/Fixtures/tiny/gpt2").path

    private let batch = TokenBatch(rows: [[1, 2, 3, 4, 5, 6], [8, 9, 10]], padId: 0)

    /// A fresh model whose `method` weights train, and the adapter over them.
    private func setup(_ method: BaseWeightMethod, gpt2: Bool) throws -> (LanguageModel, BaseWeightAdapter) {
        let model: LanguageModel
        if gpt2 {
            model = try ModelLoader.load(Self.gpt2Path, trainable: method.trainable).model
        } else {
            var weights = LlamaModel.randomWeights(TinyModel.configuration, seed: 7)
            for (name, t) in weights where t.rank == 2 {
                let scaled = t.copy()
                for i in 0..<scaled.count { scaled.floats[i] *= 15 }
                weights[name] = scaled
            }
            model = try LlamaModel(configuration: TinyModel.configuration, weights: weights, source: "tiny",
                                   trainable: method.trainable)
        }
        return (model, try BaseWeightAdapter(method: method, model: model, modelName: "tiny"))
    }

    private func logits(_ model: LanguageModel, _ hooks: ModelHooks? = nil) -> [Float] {
        TinyModel.logits(model, hooks, batch, tape: Tape(recording: false)).value.scalars
    }

    private static let cases: [(BaseWeightMethod, gpt2: Bool)] = [
        (.bitfit, true), (.lnTuning, true), (.lnTuning, false), (.full, false),
    ]

    func testSelectsTheRightWeights() throws {
        for (method, gpt2) in Self.cases {
            let (model, adapter) = try setup(method, gpt2: gpt2)
            let names = Set(adapter.trainableParameters.keys)
            for (name, p) in model.parameters {
                XCTAssertEqual(names.contains(name), p.requiresGrad, "\(method) \(name)")
                XCTAssertEqual(p.requiresGrad, method.trainable(name), "\(method) \(name)")
            }
            switch method {
            case .bitfit:
                XCTAssertTrue(names.allSatisfy { $0.hasSuffix(".bias") })
                XCTAssertTrue(names.contains("transformer.h.0.attn.c_attn.bias"), "\(names.sorted())")
            case .lnTuning:
                let expected = gpt2 ? ["transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias", "transformer.ln_f.bias"]
                    : ["model.layers.0.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                       "model.norm.weight"]
                XCTAssertTrue(Set(expected).isSubset(of: names), "\(names.sorted())")
                XCTAssertEqual(names.count, gpt2 ? 2 * (2 * 2 + 1) : 2 * 2 + 1, "\(names.sorted())")
            case .full:
                XCTAssertEqual(names.count, model.parameters.count)
            }
        }
    }

    /// Llama has no biases: BitFit says so, naming the model.
    func testBitFitOnLlamaFailsClearly() throws {
        let model = try LlamaModel(configuration: TinyModel.configuration,
                                   weights: LlamaModel.randomWeights(TinyModel.configuration, seed: 1), source: "tiny",
                                   trainable: BaseWeightMethod.bitfit.trainable)
        var options = MethodOptions()
        options.modelName = "SmolLM2-135M-Instruct"
        XCTAssertThrowsError(try makeAdapter(.bitfit, options: options, model: model, tokenizer: TinyModel.tokenizer)) { error in
            XCTAssertEqual("\(error)", "option 'method' bitfit: SmolLM2-135M-Instruct has no bias terms; bitfit needs a "
                           + "model with biases such as GPT-2 or Qwen2")
        }
    }

    /// A few AdamW steps lower the loss, change every selected weight and nothing else.
    func testTrainingChangesOnlyTheMethodsWeights() throws {
        for (method, gpt2) in Self.cases {
            let (model, adapter) = try setup(method, gpt2: gpt2)
            let before = model.parameters.mapValues { $0.value.scalars }
            let losses = try Training.run(model, adapter, batch, steps: 4, learningRate: 0.01)
            XCTAssertLessThan(losses.last ?? .infinity, losses.first ?? 0, "\(method): losses \(losses)")
            for (name, p) in model.parameters {
                if p.requiresGrad {
                    XCTAssertNotEqual(p.value.scalars, before[name], "\(method): \(name) did not change")
                } else {
                    XCTAssertEqual(p.value.scalars, before[name], "\(method): frozen \(name) changed")
                    XCTAssertNil(p.grad, "\(method): frozen \(name) got a gradient")
                }
            }
        }
    }

    /// Save, load into a fresh frozen model: the same tensors, the same logits; disabling
    /// restores the base model's logits (BitFit, LN tuning).
    func testSaveLoadAndDisable() throws {
        for (method, gpt2) in Self.cases {
            let (model, adapter) = try setup(method, gpt2: gpt2)
            let base = logits(model)
            try Training.run(model, adapter, batch, steps: 2, learningRate: 0.05)
            let trained = logits(model)
            XCTAssertGreaterThan(maxAbsDiff(trained, base), 1e-4, "\(method) changes nothing")

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-bw-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try AdapterFiles.save(adapter, to: directory, extras: nil)
            let (fresh, _) = try setup(method, gpt2: gpt2)  // the base values again
            XCTAssertEqual(logits(fresh), base)
            let (loaded, _) = try AdapterFiles.load(from: directory, model: fresh)
            XCTAssertEqual(loaded.peftType, method.peftType)
            XCTAssertEqual(try loaded.encodedConfiguration(), try adapter.encodedConfiguration(), "\(method)")
            XCTAssertEqual(logits(fresh, loaded), trained, "\(method): logits after loading")
            XCTAssertEqual(Set(loaded.exportedTensors().keys), Set(adapter.exportedTensors().keys))

            if method != .full {
                let weights = try XCTUnwrap(adapter as BaseWeightAdapter?)
                try weights.setEnabled(false)
                XCTAssertEqual(logits(model), base, "\(method): disabled")
                try weights.setEnabled(true)
                XCTAssertEqual(logits(model), trained, "\(method): enabled again")
            }
        }
    }

    /// PEFT's LN tuning names: `base_model.model.<module>.ln_tuning_layers.<weight|bias>`.
    func testLNTuningFileNames() throws {
        let (_, adapter) = try setup(.lnTuning, gpt2: true)
        let names = Set(adapter.exportedTensors().keys)
        XCTAssertTrue(names.contains("base_model.model.transformer.h.1.ln_2.ln_tuning_layers.bias"), "\(names.sorted())")
        XCTAssertTrue(names.contains("base_model.model.transformer.ln_f.ln_tuning_layers.weight"), "\(names.sorted())")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: adapter.encodedConfiguration()) as? [String: Any])
        XCTAssertEqual(json["peft_type"] as? String, "LN_TUNING")
        XCTAssertEqual(json["target_modules"] as? [String], ["ln_1", "ln_2", "ln_f"])
    }

    /// Finite differences (the fourth-order stencil: these tiny models are strongly curved)
    /// through the model to the selected weights, at a fixed perturbed point.
    func testGradientsMatchFiniteDifferences() throws {
        for (method, gpt2) in Self.cases where method != .full {
            let (model, adapter) = try setup(method, gpt2: gpt2)
            perturb(adapter.trainableParameters, scale: 0.1, seed: 3)
            let parameters = adapter.trainableParameters.keys.sorted().prefix(6).compactMap { adapter.trainableParameters[$0] }
            checkGradients("\(method) (\(gpt2 ? "GPT-2" : "Llama"))", inputs: parameters, eps: 5e-2, atol: 2e-3, rtol: 2e-2,
                           maxElements: 32, fivePoint: true) { tape in
                TinyModel.logits(model, adapter, batch, tape: tape)
            }
        }
    }

    // MARK: - PEFT LN_TUNING on SmolLM2

    /// PEFT → Trimtab: PEFT's trained LN_TUNING adapter gives PEFT's logits.
    func testPEFTLNTuningMatchesPEFTLogits() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let loaded = try SmolLM2PEFTReferenceTests.loaded.get()
        let reference = try JSONDecoder().decode(SmolLM2PEFTReferenceTests.LogitRecord.self,
                                                 from: Data(contentsOf: try TestAssets.fixture("peft/ln_tuning.json")))
        let base = SmolLM2PEFTReferenceTests.record(loaded.model, nil, rows: reference.rows, columns: reference.columns)
        let (adapter, _) = try AdapterFiles.load(from: try TestAssets.fixture("peft/ln_tuning"), model: loaded.model)
        let weights = try XCTUnwrap(adapter as? BaseWeightAdapter)
        defer { try? weights.setEnabled(false) }  // the shared model gets its base norms back
        XCTAssertEqual(adapter.trainableParameters.count, 2 * loaded.model.layerCount + 1)
        let ours = SmolLM2PEFTReferenceTests.record(loaded.model, adapter, rows: reference.rows, columns: reference.columns)
        let worst = SmolLM2PEFTReferenceTests.worstRatio(ours, reference)
        print("PEFT → Trimtab ln_tuning: max |Δlogit| / max|logit| = \(worst)")
        XCTAssertLessThan(worst, 1e-3)
        XCTAssertGreaterThan(SmolLM2PEFTReferenceTests.worstRatio(base, reference), 1e-3, "the fixture's norms are trained")
        let greedy = Generator(model: loaded.model).generate(prompt: reference.rows[0], maxTokens: 8).tokens
        XCTAssertEqual(greedy, reference.greedy)
        try weights.setEnabled(false)
        let restored = SmolLM2PEFTReferenceTests.record(loaded.model, nil, rows: reference.rows, columns: reference.columns)
        XCTAssertEqual(SmolLM2PEFTReferenceTests.worstRatio(restored, base), 0)
    }

    /// Trimtab → PEFT: a Trimtab-trained LN_TUNING adapter with Trimtab's logits, for
    /// `scripts/reference/peft_ln_tuning.py --check $TRIMTAB_PEFT_EXPORT`.
    func testExportLNTuningForPEFT() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let loaded = try ModelLoader.load(TestAssets.smolLM2, trainable: BaseWeightMethod.lnTuning.trainable)
        let model = loaded.model, tokenizer = loaded.tokenizer
        let environment = ProcessInfo.processInfo.environment["TRIMTAB_PEFT_EXPORT"].flatMap { $0.isEmpty ? nil : $0 }
        let root = URL(fileURLWithPath: environment ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-ln-export-\(UUID().uuidString)").path)
        if environment == nil { addTeardownBlock { try? FileManager.default.removeItem(at: root) } }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let adapter = try BaseWeightAdapter(method: .lnTuning, model: model)
        XCTAssertEqual(adapter.configuration.targetModules, ["input_layernorm", "post_attention_layernorm", "norm"])
        let train = TokenBatch(rows: [tokenizer.encode("A trim tab is a small surface that moves a large rudder.",
                                                       addSpecialTokens: false)])
        try Training.run(model, adapter, train, steps: 2, learningRate: 1e-2)
        try AdapterFiles.save(adapter, to: root.appendingPathComponent("ln_tuning"), extras: nil)
        let rows = ["The capital of France is", "Trim tabs steer large ships because the rudder"].map {
            tokenizer.encode($0, addSpecialTokens: false)
        }
        var record = SmolLM2PEFTReferenceTests.record(model, adapter, rows: rows, columns: Array(0..<64))
        record.method = "ln_tuning"
        record.greedy = Generator(model: model).generate(prompt: rows[0], maxTokens: 8).tokens
        try JSONEncoder().encode(record).write(to: root.appendingPathComponent("ln_tuning.json"))
        print("Trimtab-made LN_TUNING adapter in \(root.path); check with: scripts/reference/peft_ln_tuning.py --check \(root.path)")
    }
}
