import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// The op set is closed: `gradientCheck(for:)` switches over every ``OpKind`` without a
/// default, so adding an op without a finite-difference check does not compile. The
/// dedicated test files check each op far more thoroughly (edge cases, PyTorch
/// fixtures); this one guarantees none is missing.
final class OpCoverageTests: XCTestCase {
    private func v(_ shape: [Int], _ seed: UInt64, scale: Float = 1) -> Variable {
        Variable(randomTensor(shape, seed: seed, scale: scale), requiresGrad: true)
    }

    private func gradientCheck(for kind: OpKind) {
        let label = "\(kind)"
        switch kind {
        case .matmul:
            let a = v([2, 3, 4], 1), b = v([2, 5, 4], 2)
            checkGradients(label, inputs: [a, b]) { $0.matmul(a, b, transB: true) }
        case .linear:
            let x = v([3, 4], 3), w = v([5, 4], 4), b = v([5], 5)
            checkGradients(label, inputs: [x, w, b]) { $0.linear(x, w, bias: b) }
        case .add:
            let a = v([2, 3], 6), b = v([2, 3], 7)
            checkGradients(label, inputs: [a, b]) { $0.add(a, b) }
        case .addBias:
            let x = v([2, 3, 4], 8), b = v([4], 9)
            checkGradients(label, inputs: [x, b]) { $0.addBias(x, b) }
        case .mul:
            let a = v([5], 10), b = v([5], 11)
            checkGradients(label, inputs: [a, b]) { $0.mul(a, b) }
        case .scale:
            let x = v([4], 12)
            checkGradients(label, inputs: [x]) { $0.scale(x, by: -1.5) }
        case .embedding:
            let table = v([6, 3], 13)
            checkGradients(label, inputs: [table]) { $0.embedding(table, ids: [1, 4, 1, 0], shape: [2, 2]) }
        case .concatSequence:
            let prompt = v([1, 2, 3], 14), x = v([2, 3, 3], 15)
            checkGradients(label, inputs: [prompt, x]) { $0.concatSequence([prompt, x]) }
        case .reshape:
            let x = v([2, 6], 16)
            checkGradients(label, inputs: [x]) { $0.reshape(x, [3, 4]) }
        case .rmsNorm:
            let x = v([3, 8], 17), w = v([8], 18)
            checkGradients(label, inputs: [x, w]) { $0.rmsNorm(x, weight: w, eps: 1e-5) }
        case .layerNorm:
            let x = v([3, 8], 19), w = v([8], 20), b = v([8], 21)
            checkGradients(label, inputs: [x, w, b]) { $0.layerNorm(x, weight: w, bias: b, eps: 1e-5) }
        case .rope:
            let x = v([2, 3, 2, 8], 22)
            let table = RoPETable(headDim: 8, base: 10_000, maxPositions: 16)
            checkGradients(label, inputs: [x]) {
                $0.rope(x, table: table, positions: [0, 1, 2, 3, 4, 5], layout: .rotateHalf)
            }
        case .attention:
            let q = v([2, 4, 6, 8], 23), k = v([2, 4, 2, 8], 24), value = v([2, 4, 2, 8], 25)
            let pk = v([1, 2, 2, 8], 26), pv = v([1, 2, 2, 8], 27)
            let options = AttentionOptions(causal: true, keyMask: [1, 1, 1, 1, 1, 1, 1, 0], prefixKey: pk,
                                           prefixValue: pv)
            checkGradients(label, inputs: [q, k, value, pk, pv]) {
                $0.attention(query: q, key: k, value: value, options: options)
            }
        case .silu:
            let x = v([7], 28)
            checkGradients(label, inputs: [x]) { $0.silu(x) }
        case .gelu:
            let x = v([7], 29)
            checkGradients(label, inputs: [x]) { $0.gelu(x, approximation: .tanh) }
        case .swiglu:
            let g = v([6], 30), u = v([6], 31)
            checkGradients(label, inputs: [g, u]) { $0.swiglu(gate: g, up: u) }
        case .relu:
            let x = v([7], 35)
            for i in 0..<7 where abs(x.value.floats[i]) < 0.05 { x.value.floats[i] = 0.5 }  // away from the kink
            checkGradients(label, inputs: [x]) { $0.relu(x) }
        case .tanh:
            let x = v([7], 36)
            checkGradients(label, inputs: [x]) { $0.tanh(x) }
        case .sigmoid:
            let x = v([7], 37)
            checkGradients(label, inputs: [x]) { $0.sigmoid(x) }
        case .softmax:
            let x = v([3, 5], 32)
            checkGradients(label, inputs: [x]) { $0.softmax(x) }
        case .crossEntropy:
            let logits = v([4, 6], 33)
            checkGradients(label, inputs: [logits]) { $0.crossEntropy(logits, targets: [1, -100, 5, 0]) }
        case .linearCrossEntropy:
            let x = v([5, 4], 35), w = Variable(randomTensor([7, 4], seed: 36))
            checkGradients(label, inputs: [x]) { $0.linearCrossEntropy(x, w, targets: [1, -100, 6, 0, 3], chunk: 2) }
        case .dropout:
            let x = v([16], 34)
            checkGradients(label, inputs: [x]) { $0.dropout(x, probability: 0.3, seed: 7) }
        }
    }

    func testEveryOpHasAGradientCheck() {
        for kind in OpKind.allCases { gradientCheck(for: kind) }
    }
}
