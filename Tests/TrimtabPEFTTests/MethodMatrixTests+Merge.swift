import Foundation
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// The matrix checks that only weight-space methods have: merging, and a fresh adapter is
/// the base model.
final class LinearMethodMatrixTests: XCTestCase {
    private let model = TinyModel.make()
    private let batch = TokenBatch(rows: [[1, 2, 3, 4, 5, 6], [8, 9, 10]], padId: 0)

    private func logits(_ model: LanguageModel, _ hooks: ModelHooks?) -> [Float] {
        let tape = Tape(recording: false)
        return TinyModel.logits(model, hooks, batch, tape: tape).value.scalars
    }

    /// A model with the base weights and `replacements`.
    private func model(replacing replacements: [String: Tensor]) throws -> LlamaModel {
        var weights = model.parameters.mapValues(\.value)
        for (name, t) in replacements {
            XCTAssertEqual(weights[name]?.shape, t.shape, name)
            weights[name] = t
        }
        return try LlamaModel(configuration: TinyModel.configuration, weights: weights, source: "merged")
    }

    /// Folding the adapter into the weights gives the adapted model's logits.
    func testMergeEqualsUnmerged() throws {
        for (label, make) in TinyModel.linearMethods {
            let adapter = try make(model)
            // Train a little so LoRA's B and DoRA's magnitudes move as well.
            try Training.run(model, adapter, batch, steps: 2, learningRate: 0.02)
            adapter.isTraining = false
            let merged = try XCTUnwrap(adapter as? MergeableAdapter, label).mergedWeights()
            XCTAssertFalse(merged.isEmpty, label)
            let expected = logits(model, adapter), got = logits(try self.model(replacing: merged), nil)
            let scale = expected.map(abs).max() ?? 1
            let diff = zip(expected, got).map { abs($0 - $1) }.max() ?? .infinity
            print("merge \(label): max |Δ| / max|logit| = \(diff / scale)")
            XCTAssertLessThan(diff / scale, 1e-5, label)
        }
    }

    /// PEFT's default initialisation (zero B; DoRA magnitudes = ‖W‖; (IA)³ vectors = 1)
    /// leaves the model unchanged.
    func testFreshAdaptersAreTheBaseModel() throws {
        let base = logits(model, nil)
        let fresh: [(String, Adapter)] = [
            ("LoRA", try makeLinearAdapter(.lora, options: LinearMethodOptions(seed: 1), model: model)),
            ("LoRA gaussian all-linear", try makeLinearAdapter(.lora, options: LinearMethodOptions(
                targetModules: .names(["all-linear"]), initialisation: .string("gaussian"), seed: 2), model: model)),
            ("DoRA", try makeLinearAdapter(.lora, options: LinearMethodOptions(dora: true, seed: 3), model: model)),
            ("(IA)³", try makeLinearAdapter(.ia3, options: LinearMethodOptions(), model: model)),
        ]
        for (label, adapter) in fresh {
            adapter.isTraining = false
            let diff = zip(base, logits(model, adapter)).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(diff, 1e-5, label)
            // Not a no-op: the adapter did attach.
            XCTAssertFalse(adapter.trainableParameters.isEmpty, label)
        }
    }
}
