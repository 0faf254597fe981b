import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// Ops whose kernels overwrite their whole output allocate it without zeroing
/// (`Tensor(uninitialized:)`), and so do backward kernels writing a gradient nothing has
/// flowed to yet (`Variable.gradDestination()`). With that memory filled with NaNs, a small
/// transformer block's loss and every gradient must come out finite and bit-identical:
/// no kernel reads an output element before writing it.
final class UninitializedOutputTests: XCTestCase {
    private func runBlock() -> [[Float]] {
        let (b, t, c, hq, hkv, d, hidden, vocab) = (2, 24, 64, 4, 2, 16, 96, 50)
        let tokens = b * t
        func parameter(_ shape: [Int], _ seed: UInt64, scale: Float = 0.2) -> Variable {
            Variable(randomTensor(shape, seed: seed, scale: scale), requiresGrad: true)
        }
        let x = parameter([tokens, c], 1, scale: 1)
        let norm1 = parameter([c], 2), norm2 = parameter([c], 3)
        let wq = parameter([hq * d, c], 4), wk = parameter([hkv * d, c], 5), wv = parameter([hkv * d, c], 6)
        let wo = parameter([c, hq * d], 7), wm = parameter([c, c], 8)
        let wg = parameter([hidden, c], 9), wu = parameter([hidden, c], 10), wd = parameter([c, hidden], 11)
        // Frozen, the chunked output path; a frozen bf16 projection runs the bf16 products.
        let output = Variable(randomTensor([vocab, c], seed: 12, scale: 0.2))
        let frozen = Variable(randomTensor([c, c], seed: 13, scale: 0.2).converted(to: .bf16))
        let rope = RoPETable(headDim: d, base: 10_000, maxPositions: t)
        let positions = (0..<tokens).map { Int32($0 % t) }
        // Some rows ignored: their logits' gradient must be written as zeros.
        let targets = (0..<tokens).map { $0 % 11 == 5 ? Int32(-100) : Int32(($0 * 7) % vocab) }

        let tape = Tape()
        let h0 = tape.rmsNorm(x, weight: norm1, eps: 1e-5)
        let q = tape.rope(tape.reshape(tape.linear(h0, wq), [b, t, hq, d]), table: rope, positions: positions,
                          layout: .rotateHalf)
        let k = tape.rope(tape.reshape(tape.linear(h0, wk), [b, t, hkv, d]), table: rope, positions: positions,
                          layout: .rotateHalf)
        let v = tape.reshape(tape.linear(h0, wv), [b, t, hkv, d])
        let attended = tape.reshape(tape.attention(query: q, key: k, value: v), [tokens, hq * d])
        let h1 = tape.add(x, tape.linear(attended, wo))
        let h2 = tape.add(tape.add(h1, tape.matmul(h1, wm, transB: true)), tape.linear(h1, frozen))
        let n2 = tape.rmsNorm(h2, weight: norm2, eps: 1e-5)
        let ffn = tape.linear(tape.swiglu(gate: tape.linear(n2, wg), up: tape.linear(n2, wu)), wd)
        let loss = tape.linearCrossEntropy(tape.add(h2, ffn), output, targets: targets, chunk: 16)
        tape.backward(from: loss)
        return [loss.value.scalars] + [x, norm1, norm2, wq, wk, wv, wo, wm, wg, wu, wd].map { $0.grad!.scalars }
    }

    func testPoisonedOutputsChangeNothing() {
        let clean = runBlock()
        TensorStorage.poisonsUninitialized = true
        defer { TensorStorage.poisonsUninitialized = false }
        let poisoned = runBlock()
        for (index, (p, c)) in zip(poisoned, clean).enumerated() {
            let nonFinite = p.filter { !$0.isFinite }.count
            let changed = zip(p, c).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            XCTAssertEqual(nonFinite, 0, "value \(index): \(nonFinite) of \(p.count) not finite with poisoned outputs")
            XCTAssertEqual(changed, 0, "value \(index): \(changed) of \(p.count) changed with poisoned outputs")
        }
    }
}
