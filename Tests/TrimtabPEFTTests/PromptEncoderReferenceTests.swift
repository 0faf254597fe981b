import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabTensor

/// The encoders against PEFT's own modules (`PromptEncoder` with an MLP and a 2-layer
/// bidirectional LSTM, `PrefixEncoder` with projection) on a tiny configuration: the same
/// weights give the same output and the same gradients (fixture from
/// scripts/reference/peft_prompt.py, computed in float64).
final class PromptEncoderReferenceTests: XCTestCase {
    private func weights(_ c: FixtureCase) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, value) in c.tensors where !key.hasPrefix("d") && key != "y" && key != "R" { out[key] = value.tensor }
        return out
    }

    private func compare(_ name: String, _ c: FixtureCase, parameters: [String: Variable],
                         _ forward: (Tape) -> Variable) throws {
        let tape = Tape()
        let y = forward(tape)
        assertClose(y.value, c.tensor("y"), atol: 1e-5, rtol: 1e-4, "\(name) output")
        tape.backward(from: y, gradient: c.tensor("R"))
        var worst = maxAbsDiff(y.value, c.tensor("y"))
        XCTAssertEqual(Set(parameters.keys), Set(weights(c).keys), "\(name): parameter names")
        for (key, p) in parameters {
            let grad = try XCTUnwrap(p.grad, "\(name): no gradient for \(key)")
            assertClose(grad, c.tensor("d" + key), atol: 1e-5, rtol: 1e-4, "\(name) d\(key)")
            worst = max(worst, maxAbsDiff(grad, c.tensor("d" + key)))
        }
        print("prompt_encoders \(name): max |diff| vs PEFT (output and gradients) \(worst)")
    }

    private func pTuning(_ kind: PromptEncoderKind, hidden: Int) -> PTuningConfiguration {
        let settings = PromptLearningSettings(peftType: "P_TUNING", virtualTokens: 5, tokenDim: 12, attentionHeads: 1,
                                              layers: 1)
        return PTuningConfiguration(settings: settings, encoder: kind, encoderHiddenSize: hidden, encoderLayers: 2)
    }

    func testMLPEncoder() throws {
        let c = try XCTUnwrap(try FixtureFile.load("prompt_encoders").named("mlp"))
        let encoder = try PromptEncoder(configuration: pTuning(.mlp, hidden: 7), seed: 0, tensors: weights(c))
        try compare("mlp", c, parameters: encoder.parameters) { encoder.forward(tape: $0) }
    }

    func testLSTMEncoder() throws {
        let c = try XCTUnwrap(try FixtureFile.load("prompt_encoders").named("lstm"))
        let encoder = try PromptEncoder(configuration: pTuning(.lstm, hidden: 6), seed: 0, tensors: weights(c))
        try compare("lstm", c, parameters: encoder.parameters) { encoder.forward(tape: $0) }
    }

    func testPrefixProjection() throws {
        let c = try XCTUnwrap(try FixtureFile.load("prompt_encoders").named("prefix_projection"))
        let settings = PromptLearningSettings(peftType: "PREFIX_TUNING", virtualTokens: 5, tokenDim: 8,
                                              attentionHeads: 2, layers: 2)
        let configuration = PrefixTuningConfiguration(settings: settings, encoderHiddenSize: 6, prefixProjection: true)
        let encoder = try PrefixEncoder(configuration: configuration, seed: 0, tensors: weights(c))
        try compare("prefix_projection", c, parameters: encoder.parameters) { encoder.forward(tape: $0) }
    }
}
