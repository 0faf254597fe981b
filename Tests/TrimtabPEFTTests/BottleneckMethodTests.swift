import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// Bottleneck adapters through the shared method checks: save/load round trip, only the
/// adapter's parameters change in a training step, a fresh (near-identity) adapter and a
/// disabled one give the base model, and finite-difference gradients through the layer.
final class BottleneckMethodTests: XCTestCase {
    private let model = TinyModel.make()
    private let batch = TokenBatch(rows: [[1, 2, 3, 4, 5, 6], [8, 9, 10]], padId: 0)

    /// Every bottleneck variant, through the factory as `trimtab train` makes them.
    static let variants: [(label: String, options: BottleneckOptions)] = [
        ("pfeiffer, relu", BottleneckOptions(architecture: .pfeiffer, reductionFactor: 4, nonLinearity: .relu)),
        ("houlsby, gelu", BottleneckOptions(architecture: .houlsby, reductionFactor: 2, nonLinearity: .gelu)),
        ("houlsby, silu", BottleneckOptions(architecture: .houlsby, reductionFactor: 8, nonLinearity: .silu)),
        ("pfeiffer, tanh, scaling 0.5", BottleneckOptions(architecture: .pfeiffer, reductionFactor: 4, nonLinearity: .tanh,
                                                          scaling: 0.5)),
    ]

    private func forEachVariant(_ body: (String, Adapter) throws -> Void) throws {
        for (i, (label, options)) in Self.variants.enumerated() {
            let adapter = try makeAdapter(.adapter, options: MethodOptions(prompt: PromptMethodOptions(seed: UInt64(i)),
                                                                           bottleneck: options),
                                          model: model, tokenizer: TinyModel.tokenizer)
            try body(label, adapter)
        }
    }

    private func perturb(_ adapter: Adapter, seed: UInt64, scale: Float = 0.3) {
        var rng = SplitMix64(seed: seed)
        for name in adapter.trainableParameters.keys.sorted() {
            guard let p = adapter.trainableParameters[name] else { continue }
            for i in 0..<p.value.count { p.value.floats[i] += scale * rng.nextNormal() }
        }
    }

    private func logits(_ hooks: ModelHooks?) -> [Float] {
        TinyModel.logits(model, hooks, batch, tape: Tape(recording: false)).value.scalars
    }

    func testShapesNamesAndConfiguration() throws {
        try forEachVariant { label, adapter in
            let b = try XCTUnwrap(adapter as? BottleneckAdapter)
            let r = b.configuration.bottleneckSize, c = model.hiddenSize
            let sites = b.configuration.architecture == .houlsby ? 2 : 1
            XCTAssertEqual(adapter.peftType, "BOTTLENECK")
            XCTAssertEqual(adapter.trainableParameters.count, 4 * sites * model.layerCount, label)
            XCTAssertEqual(adapter.trainableParameters["base_model.model.model.layers.1.output_adapter.adapter_down.weight"]?.shape,
                           [r, c], label)
            XCTAssertEqual(adapter.trainableParameters["base_model.model.model.layers.1.output_adapter.adapter_up.weight"]?.shape,
                           [c, r], label)
            XCTAssertEqual(adapter.trainableParameters["base_model.model.model.layers.0.mh_adapter.adapter_up.bias"] != nil,
                           sites == 2, label)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: adapter.encodedConfiguration()) as? [String: Any])
            XCTAssertEqual(Set(json.keys), ["peft_type", "architecture", "mh_adapter", "output_adapter", "reduction_factor",
                                            "bottleneck_size", "non_linearity", "scaling", "hidden_size", "num_layers",
                                            "init_weights", "task_type", "base_model_name_or_path", "inference_mode"], label)
            XCTAssertEqual(json["mh_adapter"] as? Bool, sites == 2, label)
        }
    }

    /// Near-identity initialisation: a fresh adapter computes exactly the base model.
    func testFreshAdapterIsTheIdentity() throws {
        let base = logits(nil)
        try forEachVariant { label, adapter in
            XCTAssertEqual(logits(adapter), base, label)
        }
    }

    /// A trained adapter changes the output; disabled (its rows assigned no adapter) the
    /// model is the base again.
    func testDisablingRestoresTheBase() throws {
        let base = logits(nil)
        try forEachVariant { label, adapter in
            perturb(adapter, seed: 3)
            XCTAssertGreaterThan(maxAbsDiff(logits(adapter), base), 1e-2, "\(label) changes nothing")
            XCTAssertEqual(logits(MixedAdapterHooks(rows: [nil, nil])), base, label)
        }
    }

    func testSaveLoadRoundTrip() throws {
        try forEachVariant { label, adapter in
            perturb(adapter, seed: 5)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-bn-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try AdapterFiles.save(adapter, to: directory, extras: nil)
            let (loaded, _) = try AdapterFiles.load(from: directory, model: model)
            XCTAssertEqual(try loaded.encodedConfiguration(), try adapter.encodedConfiguration(), label)
            XCTAssertEqual(Set(loaded.exportedTensors().keys), Set(adapter.exportedTensors().keys), label)
            for (name, t) in adapter.exportedTensors() {
                XCTAssertEqual(loaded.exportedTensors()[name]?.scalars, t.scalars, "\(label): \(name)")
            }
            XCTAssertEqual(logits(loaded), logits(adapter), label)
            XCTAssertEqual(loaded.trainableParameters.count, adapter.trainableParameters.count, label)
            XCTAssertTrue(loaded.trainableParameters.values.allSatisfy(\.requiresGrad), label)
        }
    }

    /// One AdamW step changes every adapter tensor and nothing in the base model.
    func testTrainingStepChangesOnlyAdapterParameters() throws {
        let before = model.parameters.mapValues { $0.value.scalars }
        try forEachVariant { label, adapter in
            perturb(adapter, seed: 9, scale: 0.1)  // non-zero up projection: every tensor gets a gradient
            let snapshot = adapter.trainableParameters.mapValues { $0.value.scalars }
            let losses = try Training.run(model, adapter, batch, steps: 4, learningRate: 0.02)
            XCTAssertLessThan(losses.last ?? .infinity, losses.first ?? 0, "\(label): losses \(losses)")
            for (name, p) in adapter.trainableParameters {
                XCTAssertNotEqual(p.value.scalars, snapshot[name], "\(label): \(name) did not change")
            }
        }
        for (name, p) in model.parameters {
            XCTAssertNil(p.grad, "base parameter \(name) got a gradient")
            XCTAssertEqual(p.value.scalars, before[name], "base parameter \(name) changed")
        }
    }

    /// Central finite differences through the whole tiny model to every adapter tensor.
    func testGradientsMatchFiniteDifferences() throws {
        try forEachVariant { label, adapter in
            perturb(adapter, seed: 13, scale: 0.2)
            adapter.isTraining = false
            let parameters = adapter.trainableParameters.keys.sorted().compactMap { adapter.trainableParameters[$0] }
            checkGradients("bottleneck \(label)", inputs: parameters, eps: 1e-2, atol: 2e-3, rtol: 2e-2, maxElements: 12) { tape in
                TinyModel.logits(model, adapter, batch, tape: tape)
            }
        }
    }

    /// The layer alone: y = x + s·up(f(down(x))), every input and weight.
    func testLayerGradients() throws {
        for activation in BottleneckConfiguration.NonLinearity.allCases {
            var rng = SplitMix64(seed: 21)
            let layer = BottleneckLayer.fresh(hidden: 6, bottleneck: 3, nonLinearity: activation, scaling: 0.7, rng: &rng)
            for p in [layer.upWeight, layer.upBias, layer.downBias] {
                for i in 0..<p.value.count { p.value.floats[i] = 0.5 * rng.nextNormal() }
            }
            let x = Variable(randomTensor([2, 3, 6], seed: 4), requiresGrad: true)
            checkGradients("bottleneck layer, \(activation)", inputs: [x, layer.downWeight, layer.downBias, layer.upWeight,
                                                                      layer.upBias],
                           eps: 2e-3, atol: 2e-3, rtol: 2e-2) { tape in
                layer.forward(x, tape: tape)
            }
        }
    }

    func testConfigurationErrorsNameTheField() throws {
        func decode(_ json: String) -> String {
            do {
                _ = try JSONDecoder().decode(BottleneckConfiguration.self, from: Data(json.utf8))
                return "decoded"
            } catch {
                return "\(error)"
            }
        }
        let good = #""peft_type": "BOTTLENECK", "hidden_size": 16, "num_layers": 2"#
        XCTAssertEqual(decode("{\(good)}"), "decoded")
        XCTAssertTrue(decode("{\(good), \"non_linearity\": \"swish\"}").contains("'non_linearity'"))
        XCTAssertTrue(decode("{\(good), \"reduction_factor\": 0}").contains("'reduction_factor'"))
        XCTAssertTrue(decode("{\(good), \"architecture\": \"houlsby\", \"mh_adapter\": false}").contains("'mh_adapter'"))
        XCTAssertTrue(decode("{\(good), \"bottleneck_size\": 5}").contains("'bottleneck_size'"))
        XCTAssertTrue(decode(#"{"peft_type": "BOTTLENECK", "num_layers": 2}"#).contains("'hidden_size'"))
        // mh_adapter alone selects Houlsby, as in AdapterHub.
        let houlsby = try JSONDecoder().decode(BottleneckConfiguration.self, from: Data("{\(good), \"mh_adapter\": true}".utf8))
        XCTAssertEqual(houlsby.architecture, .houlsby)
        let other = TinyModel.make()
        let wrong = BottleneckConfiguration(hiddenSize: 32, layers: 2)
        XCTAssertThrowsError(try BottleneckAdapter(configuration: wrong, model: other, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("hidden_size"), "\(error)")
        }
    }
}
