import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// relu, tanh and sigmoid: finite differences, PyTorch references and the tails.
final class NonlinearOpTests: XCTestCase {
    private static let shapes: [[Int]] = [[1], [1, 9], [3, 37], [2, 3, 19]]

    // MARK: - Finite differences

    func testReLUGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            // Keep inputs away from the kink, where the central difference is meaningless.
            let t = randomTensor(shape, seed: UInt64(50 + i), scale: 2)
            for j in 0..<t.count where abs(t.floats[j]) < 0.05 { t.floats[j] = 0.5 }
            let x = Variable(t, requiresGrad: true, name: "x")
            checkGradients("relu \(shape)", inputs: [x]) { $0.relu(x) }
        }
    }

    func testTanhGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let x = Variable(randomTensor(shape, seed: UInt64(60 + i), scale: 2), requiresGrad: true, name: "x")
            checkGradients("tanh \(shape)", inputs: [x]) { $0.tanh(x) }
        }
    }

    func testSigmoidGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let x = Variable(randomTensor(shape, seed: UInt64(70 + i), scale: 3), requiresGrad: true, name: "x")
            checkGradients("sigmoid \(shape)", inputs: [x]) { $0.sigmoid(x) }
        }
    }

    // MARK: - References

    func testAgainstPyTorch() throws {
        let file = try FixtureFile.load("ops_nonlinear")
        for (name, op) in [("relu", { (t: Tape, x: Variable) in t.relu(x) }),
                           ("tanh", { (t: Tape, x: Variable) in t.tanh(x) }),
                           ("sigmoid", { (t: Tape, x: Variable) in t.sigmoid(x) })] {
            let c = try XCTUnwrap(file.named(name), "fixture case \(name)")
            let x = Variable(c.tensor("x"), requiresGrad: true, name: "x")
            let tape = Tape()
            let y = op(tape, x)
            assertClose(y.value, c.tensor("y"), atol: 1e-6, rtol: 1e-6, "\(name) y")
            tape.backward(from: y, gradient: c.tensor("R"))
            let dx = try XCTUnwrap(x.grad, "\(name): no gradient")
            assertClose(dx, c.tensor("dx"), atol: 1e-6, rtol: 1e-5, "\(name) dx")
            print("ops_nonlinear \(name): max |diff| vs torch y \(maxAbsDiff(y.value, c.tensor("y"))), "
                  + "dx \(maxAbsDiff(dx, c.tensor("dx")))")
        }
    }

    /// σ keeps its relative precision in the negative tail (it is never 1 − σ(−x)),
    /// and both functions saturate without NaN.
    func testTails() {
        let x = try! Tensor(shape: [6], values: [-30, -12, 0, 12, 30, -80])
        let tape = Tape(recording: false)
        let s = tape.sigmoid(Variable(x)).value.scalars
        let t = tape.tanh(Variable(x)).value.scalars
        for (i, v) in x.scalars.enumerated() {
            let exact = 1 / (1 + Foundation.exp(-Double(v)))
            XCTAssertEqual(Double(s[i]), exact, accuracy: exact * 1e-6, "sigmoid(\(v))")
            XCTAssertEqual(Double(t[i]), Foundation.tanh(Double(v)), accuracy: 1e-7, "tanh(\(v))")
        }
        // ReLU's gradient at exactly 0 is 0 (PyTorch's convention).
        let zero = Variable(Tensor(zeros: [3]), requiresGrad: true)
        let tape2 = Tape()
        let y = tape2.relu(zero)
        tape2.backward(from: y)
        XCTAssertEqual(zero.grad?.scalars, [0, 0, 0])
    }
}

private func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
