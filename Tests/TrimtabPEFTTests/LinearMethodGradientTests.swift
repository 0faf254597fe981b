import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// Finite-difference checks of LoRA, DoRA and (IA)³: one wrapped layer alone (gradients of
/// the input, A, B, the magnitude, a trained bias), and every parameter through the whole
/// tiny model.
///
/// DoRA's row norm ‖W + s B A‖ is detached (a constant for the gradient), as in PEFT and
/// the paper (section 4.3). Finite differences in A or B would see the norm move, so A and
/// B are checked on the same function with the norm held at its value, and the layer is
/// checked to compute exactly that function; x, the magnitude and the bias do not move the
/// norm and are checked directly.
final class LinearMethodGradientTests: XCTestCase {
    private let site = LinearSite(layer: 0, module: "self_attn.q_proj", blockPrefix: "model.layers", inFeatures: 5,
                                  outFeatures: 4)

    private func random(_ shape: [Int], _ rng: inout SplitMix64, scale: Float = 1, grad: Bool = true,
                        name: String? = nil) -> Variable {
        let t = Tensor(zeros: shape)
        for i in 0..<t.count { t.floats[i] = (rng.nextFloat() * 2 - 1) * scale }
        return Variable(t, requiresGrad: grad, name: name)
    }

    func testLoRALayer() {
        var rng = SplitMix64(seed: 1)
        let x = random([2, 3, 5], &rng, name: "x"), w = random([4, 5], &rng, grad: false)
        let bias = random([4], &rng, name: "bias")
        let layer = LoRALayer(site: site, a: random([2, 5], &rng, name: "A"), b: random([4, 2], &rng, name: "B"),
                              magnitude: nil, scaling: 1.5, baseWeight: w, baseBias: nil)
        checkGradients("LoRA layer", inputs: [x, layer.a, layer.b, bias]) { tape in
            layer.forward(input: x, base: tape.linear(x, w, bias: bias), currentBias: bias, dropout: 0, seed: 0, tape: tape)
        }
        // With dropout (fixed mask).
        checkGradients("LoRA layer, dropout", inputs: [x, layer.a, layer.b]) { tape in
            layer.forward(input: x, base: tape.linear(x, w), currentBias: nil, dropout: 0.3, seed: 5, tape: tape)
        }
    }

    /// DoRA with a fixed B (the norm depends on A and B only; holding them for the norm
    /// makes it the constant PEFT's gradient assumes), checked for x, the magnitude and a
    /// trained bias; A and B through the update with the norm held.
    func testDoRALayer() {
        var rng = SplitMix64(seed: 2)
        let x = random([2, 3, 5], &rng, name: "x"), w = random([4, 5], &rng, grad: false)
        let bias = random([4], &rng, name: "bias")
        let a = random([2, 5], &rng, scale: 0.5, name: "A"), b = random([4, 2], &rng, scale: 0.5, name: "B")
        let m = Variable(Tensor(zeros: [4]), requiresGrad: true, name: "magnitude")
        let norms = LoRALayer.rowNorms(weight: w.value, a: a.value, b: b.value, scaling: 2)
        for i in 0..<4 { m.value.floats[i] = norms[i] * (1 + 0.2 * Float(i)) }
        let layer = LoRALayer(site: site, a: a, b: b, magnitude: m, scaling: 2, baseWeight: w, baseBias: bias)
        for dropout: Float in [0, 0.25] {
            checkGradients("DoRA layer, dropout \(dropout)", inputs: [x, m, bias]) { tape in
                layer.forward(input: x, base: tape.linear(x, w, bias: bias), currentBias: bias, dropout: dropout, seed: 9,
                              tape: tape)
            }
        }
        // A and B: the analytic gradient treats the norm as a constant; compare against
        // finite differences of the same function with the norm frozen at its current value.
        let frozen = norms
        checkGradients("DoRA layer, A and B with the norm held", inputs: [a, b]) { tape in
            let update = tape.scale(tape.linear(tape.linear(x, a), b), by: 2)
            let inv = Tensor(zeros: [4])
            for i in 0..<4 { inv.floats[i] = 1 / frozen[i] }
            let k = tape.mul(m, Variable(inv))
            let base = tape.linear(x, w)
            return tape.mulColumns(tape.add(base, update), k)
        }
        // ... and that is what the layer computes at this point.
        let tape = Tape(recording: false)
        let direct = layer.forward(input: x, base: tape.linear(x, w), currentBias: nil, dropout: 0, seed: 0, tape: tape)
        let inv = Tensor(zeros: [4])
        for i in 0..<4 { inv.floats[i] = m.value.floats[i] / frozen[i] }
        let expected = tape.mulColumns(tape.add(tape.linear(x, w), tape.scale(tape.linear(tape.linear(x, a), b), by: 2)),
                                       Variable(inv))
        let diff = zip(direct.value.scalars, expected.value.scalars).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(diff, 1e-5)
    }

    func testIA3Layers() {
        var rng = SplitMix64(seed: 3)
        let x = random([2, 3, 5], &rng, name: "x"), w = random([4, 5], &rng, grad: false)
        let bias = random([4], &rng, grad: false)
        let output = IA3Layer(site: site, vector: random([4, 1], &rng, name: "l"), isFeedforward: false, baseWeight: w,
                              baseBias: bias)
        checkGradients("(IA)³ output scaling", inputs: [x, output.vector]) { tape in
            output.output(tape.linear(output.input(x, tape: tape), w, bias: bias), tape: tape)
        }
        let input = IA3Layer(site: site, vector: random([1, 5], &rng, name: "l"), isFeedforward: true, baseWeight: w,
                             baseBias: bias)
        checkGradients("(IA)³ input scaling", inputs: [x, input.vector]) { tape in
            input.output(tape.linear(input.input(x, tape: tape), w, bias: bias), tape: tape)
        }
    }

    /// Every adapter parameter, through the whole tiny model.
    func testThroughTheModel() throws {
        let model = TinyModel.make()
        let batch = TokenBatch(rows: [[1, 2, 3, 4], [5, 6]], padId: 0)
        for (label, make) in TinyModel.linearMethods where !label.contains("dropout") {
            let adapter = try make(model)
            adapter.isTraining = false
            // DoRA: the magnitudes (A and B see the detached norm move under finite
            // differences; testDoRALayer checks them with the norm held).
            let parameters = adapter.trainableParameters.keys.sorted()
                .filter { !label.contains("DoRA") || $0.hasSuffix("magnitude_vector") }
                .compactMap { adapter.trainableParameters[$0] }
            checkGradients(label, inputs: parameters, eps: 1e-2, atol: 2e-3, rtol: 2e-2, maxElements: 12) { tape in
                TinyModel.logits(model, adapter, batch, tape: tape)
            }
        }
    }
}
