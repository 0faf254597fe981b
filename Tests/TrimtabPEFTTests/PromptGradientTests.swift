import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// Finite-difference checks of the gradients that reach each method's parameters through
/// the whole tiny model (prompt → embeddings → attention → logits; prefix → every layer's
/// attention keys and values).
final class PromptGradientTests: XCTestCase {
    private let model = TinyModel.make()
    private let batch = TokenBatch(rows: [[1, 2, 3, 4], [5, 6]], padId: 0)

    /// Checks the gradient of Σ logits ⊙ R with respect to every parameter of `adapter`.
    private func check(_ label: String, _ adapter: Adapter, file: StaticString = #filePath, line: UInt = #line) {
        adapter.isTraining = false
        let parameters = adapter.trainableParameters.keys.sorted().compactMap { adapter.trainableParameters[$0] }
        XCTAssertFalse(parameters.isEmpty, label, file: file, line: line)
        checkGradients(label, inputs: parameters, eps: 1e-2, atol: 2e-3, rtol: 2e-2, maxElements: 12,
                       file: file, line: line) { tape in
            TinyModel.logits(model, adapter, batch, tape: tape)
        }
    }

    func testPromptTuning() throws {
        check("prompt tuning", try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 3, seed: 11),
                                               model: model, tokenizer: TinyModel.tokenizer))
    }

    func testPTuningMLP() throws {
        let options = PromptMethodOptions(virtualTokens: 3, encoder: .mlp, encoderHiddenSize: 8, seed: 12)
        check("P-tuning MLP", try makeAdapter(.pTuning, options: options, model: model, tokenizer: TinyModel.tokenizer))
    }

    func testPTuningLSTM() throws {
        let options = PromptMethodOptions(virtualTokens: 3, encoder: .lstm, encoderHiddenSize: 5, seed: 13)
        check("P-tuning LSTM", try makeAdapter(.pTuning, options: options, model: model, tokenizer: TinyModel.tokenizer))
    }

    func testPrefixTuning() throws {
        // Scale the N(0, 1) table down so the softmax over prefix rows is not saturated.
        let adapter = try makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 3, seed: 14),
                                      model: model, tokenizer: TinyModel.tokenizer)
        for p in adapter.trainableParameters.values {
            for i in 0..<p.value.count { p.value.floats[i] *= 0.5 }
        }
        check("prefix tuning", adapter)
    }

    func testPrefixTuningWithProjection() throws {
        let options = PromptMethodOptions(virtualTokens: 3, encoderHiddenSize: 6, prefixProjection: true, seed: 15)
        check("prefix tuning + projection",
              try makeAdapter(.prefixTuning, options: options, model: model, tokenizer: TinyModel.tokenizer))
    }

    /// The LSTM encoder alone, including its inter-layer dropout (fixed seed).
    func testLSTMEncoderWithDropout() throws {
        let settings = PromptLearningSettings(peftType: "P_TUNING", virtualTokens: 4, tokenDim: 6, attentionHeads: 1,
                                              layers: 1)
        let configuration = PTuningConfiguration(settings: settings, encoder: .lstm, encoderHiddenSize: 3,
                                                 encoderLayers: 3, encoderDropout: 0.3)
        let encoder = try PromptEncoder(configuration: configuration, seed: 3)
        let parameters = encoder.parameters.keys.sorted().compactMap { encoder.parameters[$0] }
        // A small ε: an ε of 1e-2 can carry a pre-activation across the head's ReLU kink.
        checkGradients("LSTM encoder, dropout", inputs: parameters, eps: 2e-3, maxElements: 8) { tape in
            encoder.forward(tape: tape, dropout: 0.3, seed: 99)
        }
    }
}
