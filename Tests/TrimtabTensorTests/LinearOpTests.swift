import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

final class LinearOpTests: XCTestCase {
    func testMatmulGradientsAllTransposes() {
        for transA in [false, true] {
            for transB in [false, true] {
                for batch in [0, 2] {
                    let (m, n, k) = (3, 4, 5)
                    let aShape = transA ? [k, m] : [m, k], bShape = transB ? [n, k] : [k, n]
                    let a = Variable(randomTensor(batch > 0 ? [batch] + aShape : aShape, seed: 1), requiresGrad: true)
                    let b = Variable(randomTensor(batch > 0 ? [batch] + bShape : bShape, seed: 2), requiresGrad: true)
                    checkGradients("matmul transA \(transA) transB \(transB) batch \(batch)", inputs: [a, b]) { tape in
                        tape.matmul(a, b, transA: transA, transB: transB)
                    }
                }
            }
        }
    }

    func testLinearGradients() {
        let x = Variable(randomTensor([2, 3, 6], seed: 3), requiresGrad: true)
        let w = Variable(randomTensor([4, 6], seed: 4), requiresGrad: true)
        let b = Variable(randomTensor([4], seed: 5), requiresGrad: true)
        checkGradients("linear", inputs: [x, w, b]) { $0.linear(x, w, bias: b) }
        let single = Variable(randomTensor([1, 6], seed: 6), requiresGrad: true)
        checkGradients("linear, one row, no bias", inputs: [single, w]) { $0.linear(single, w) }
    }

    /// A frozen weight must never cost a dW product: the backward of `x · Wᵀ` with
    /// trainable x and frozen W runs exactly one GEMM (dx), and with frozen x and frozen
    /// W records nothing at all.
    func testFrozenWeightGetsNoGradientProduct() {
        let x = Variable(randomTensor([8, 16], seed: 7), requiresGrad: true)
        let frozen = Variable(randomTensor([32, 16], seed: 8), requiresGrad: false)
        let tape = Tape()
        let y = tape.linear(x, frozen)
        GEMM.resetCounters()
        tape.backward(from: y)
        XCTAssertEqual(GEMM.callCount, 1, "backward through a frozen weight ran \(GEMM.callCount) GEMMs")
        XCTAssertNil(frozen.grad)
        XCTAssertNotNil(x.grad)

        let trainable = Variable(randomTensor([32, 16], seed: 8), requiresGrad: true)
        let y2 = tape.linear(x, trainable)
        GEMM.resetCounters()
        tape.backward(from: y2)
        XCTAssertEqual(GEMM.callCount, 2, "dx and dW expected")

        let input = Variable(randomTensor([8, 16], seed: 9))
        _ = tape.linear(input, frozen)
        XCTAssertEqual(tape.count, 0, "an op with no trainable input must not be recorded")
    }

    func testBF16WeightMatchesRoundedF32() {
        let x = randomTensor([4, 64], seed: 10)
        let w = randomTensor([8, 64], seed: 11)
        let tape = Tape(recording: false)
        let y16 = tape.linear(Variable(x), Variable(w.converted(to: .bf16))).value
        let y32 = tape.linear(Variable(x.converted(to: .bf16).converted(to: .f32)),
                              Variable(w.converted(to: .bf16).converted(to: .f32))).value
        assertClose(y16, y32, atol: 1e-4, rtol: 1e-4, "bf16 linear")
    }
}
