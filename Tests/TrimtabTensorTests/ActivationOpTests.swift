import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// silu, gelu (erf and tanh), swiglu and dropout: finite differences, PyTorch
/// references, accuracy of the vector exp over a wide range, and the dropout mask.
final class ActivationOpTests: XCTestCase {
    private static let shapes: [[Int]] = [[1], [1, 9], [3, 37], [2, 3, 19]]

    // MARK: - Finite differences

    func testSiLUGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let x = Variable(randomTensor(shape, seed: UInt64(1 + i), scale: 2), requiresGrad: true, name: "x")
            checkGradients("silu \(shape)", inputs: [x]) { $0.silu(x) }
        }
    }

    func testGELUGradients() {
        for approximation in GELUApproximation.allCases {
            for (i, shape) in Self.shapes.enumerated() {
                let x = Variable(randomTensor(shape, seed: UInt64(10 + i), scale: 2), requiresGrad: true, name: "x")
                checkGradients("gelu \(approximation) \(shape)", inputs: [x]) { $0.gelu(x, approximation: approximation) }
            }
        }
    }

    func testSwiGLUGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let gate = Variable(randomTensor(shape, seed: UInt64(20 + i), scale: 2), requiresGrad: true, name: "gate")
            let up = Variable(randomTensor(shape, seed: UInt64(30 + i)), requiresGrad: true, name: "up")
            checkGradients("swiglu \(shape)", inputs: [gate, up]) { $0.swiglu(gate: gate, up: up) }
        }
        // Only one side trainable (e.g. LoRA on the up projection alone).
        let gate = Variable(randomTensor([4, 17], seed: 40, scale: 2))
        let up = Variable(randomTensor([4, 17], seed: 41), requiresGrad: true, name: "up")
        checkGradients("swiglu, frozen gate", inputs: [up]) { $0.swiglu(gate: gate, up: up) }
        XCTAssertNil(gate.grad)
    }

    /// Kept in bf16: the output is the f32 op's, the gradients are the f32 op's at the
    /// inputs rounded to bf16 (bit for bit), and backward does not read the f32 inputs —
    /// the tape may release them (here it does) — while a tape that does not record
    /// computes the plain op.
    func testSwiGLUKeptInBF16() {
        let shape = [3, 37]
        let g0 = randomTensor(shape, seed: 50, scale: 4), u0 = randomTensor(shape, seed: 51)
        let seed = randomTensor(shape, seed: 52)
        func rounded(_ t: Tensor) -> Tensor {
            let r = t.copy()
            for i in 0..<r.count { r.floats[i] = floatFromBF16(bf16Bits(r.floats[i])) }
            return r
        }
        func run(_ g: Tensor, _ u: Tensor, kept: DType) -> (out: Tensor, dgate: Tensor, dup: Tensor) {
            let tape = Tape()
            let gateIn = Variable(g, requiresGrad: true), upIn = Variable(u, requiresGrad: true)
            // Outputs of ops, as the projections' outputs are in a model.
            let gate = tape.reshape(gateIn, shape), up = tape.reshape(upIn, shape)
            let out = tape.swiglu(gate: gate, up: up, kept: kept)
            XCTAssertEqual(gate.valueNeededByBackward, kept == .f32, "gate needed by backward, kept \(kept)")
            XCTAssertEqual(up.valueNeededByBackward, kept == .f32, "up needed by backward, kept \(kept)")
            tape.releaseValues(recordedSince: 0, keeping: out)
            tape.backward(from: out, gradient: seed)
            return (out.value, gateIn.grad!, upIn.grad!)
        }
        let kept = run(g0, u0, kept: .bf16)
        let plain = run(g0, u0, kept: .f32)
        let atRounded = run(rounded(g0), rounded(u0), kept: .f32)
        assertClose(kept.out, plain.out, atol: 0, rtol: 0, "output from the f32 inputs")
        assertClose(kept.dgate, atRounded.dgate, atol: 0, rtol: 0, "dgate at the rounded inputs")
        assertClose(kept.dup, atRounded.dup, atol: 0, rtol: 0, "dup at the rounded inputs")
        // bf16 keeps 8 significant bits: the gradients move by about 2⁻⁸ of their scale.
        assertClose(kept.dgate, plain.dgate, atol: 2e-2, rtol: 2e-2, "dgate near the f32 op's")
        XCTAssertNotEqual(kept.dgate.scalars, plain.dgate.scalars, "rounding must show in the gradient")

        let inference = Tape(recording: false)
        let out = inference.swiglu(gate: Variable(g0), up: Variable(u0), kept: .bf16)
        assertClose(out.value, plain.out, atol: 0, rtol: 0, "not recording")
    }

    // MARK: - References

    func testAgainstPyTorch() throws {
        let file = try FixtureFile.load("ops_pointwise")
        func run(_ name: String, inputs: [String], _ build: (Tape, [Variable]) -> Variable) throws {
            try checkAgainstFixture(file, name, inputs: inputs, build)
        }
        try run("silu", inputs: ["x"]) { $0.silu($1[0]) }
        try run("gelu", inputs: ["x"]) { $0.gelu($1[0]) }
        try run("geluTanh", inputs: ["x"]) { $0.gelu($1[0], approximation: .tanh) }
        try run("swiglu", inputs: ["gate", "up"]) { $0.swiglu(gate: $1[0], up: $1[1]) }
    }

    /// Over [−25, 25] on a buffer large enough to run in parallel chunks, values and
    /// derivatives agree with a Double reference within a few ulp, and in the negative
    /// tail (x ≤ −2, where they are tiny) to ~1e-5 *of themselves*: nothing is computed
    /// as a difference of numbers near 1 (which would lose every digit there). The tail
    /// bound is not 1 ulp because e^z amplifies the f32 rounding of z by |z| (|z| ≈ 60 at
    /// x = −9 for GELU), as in any f32 implementation. Near a root (silu'(−1.28) = 0)
    /// only the absolute error is meaningful; below ~1e-37 the clamped exp saturates.
    func testWideRangeAgainstDouble() {
        let n = 100_003
        let x = Tensor(zeros: [n])
        for i in 0..<n { x.floats[i] = -25 + 50 * Float(i) / Float(n - 1) }
        let xs = x.scalars.map(Double.init)
        // σ(z) and 1 − σ(z) = σ(−z) in Double.
        func sigmoid(_ z: Double) -> Double { 1 / (1 + Foundation.exp(-z)) }
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        // gelu_tanh(x) = ½ x (1 + tanh u) = x σ(2u); its derivative σ(2u) + 2x σ(2u) σ(−2u) u'.
        let references: [(String, (Tape, Variable) -> Variable, (Double) -> Double, (Double) -> Double)] = [
            ("silu", { $0.silu($1) }, { $0 * sigmoid($0) }, { sigmoid($0) * (1 + $0 * sigmoid(-$0)) }),
            ("gelu tanh", { $0.gelu($1, approximation: .tanh) },
             { v in v * sigmoid(2 * k * (v + c * v * v * v)) },
             { v in
                 let z = 2 * k * (v + c * v * v * v)
                 return sigmoid(z) + 2 * v * sigmoid(z) * sigmoid(-z) * k * (1 + 3 * c * v * v)
             }),
            ("gelu erf", { $0.gelu($1) }, { 0.5 * $0 * erfc(-$0 / 2.0.squareRoot()) },
             { v in 0.5 * erfc(-v / 2.0.squareRoot()) + v * Foundation.exp(-0.5 * v * v) / (2 * Double.pi).squareRoot() }),
        ]
        let tail = xs.indices.filter { xs[$0] <= -2 }
        for (name, op, f, df) in references {
            let v = Variable(x, requiresGrad: true)
            let tape = Tape()
            let y = op(tape, v)
            tape.backward(from: y)
            let got = y.value.scalars, gotD = v.grad!.scalars
            let expected = xs.map { Float(f($0)) }, expectedD = xs.map { Float(df($0)) }
            assertClose(got, expected, atol: 2e-7, rtol: 1e-6, "\(name) value")
            assertClose(gotD, expectedD, atol: 2e-7, rtol: 1e-6, "\(name) derivative")
            // The tail, relative to the values themselves (where they are normal floats).
            let normal = tail.filter { abs(expected[$0]) > 1e-37 && abs(expectedD[$0]) > 1e-37 }
            assertClose(normal.map { got[$0] }, normal.map { expected[$0] }, atol: 0, rtol: 3e-5, "\(name) tail value")
            assertClose(normal.map { gotD[$0] }, normal.map { expectedD[$0] }, atol: 0, rtol: 3e-5,
                        "\(name) tail derivative")
            func worstRelative(_ a: [Float], _ b: [Float]) -> Float {
                normal.map { abs(a[$0] - b[$0]) / abs(b[$0]) }.max() ?? 0
            }
            func worstAbsolute(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
            print("\(name) on [−25, 25] vs Double: max |diff| value \(worstAbsolute(got, expected)), "
                  + "derivative \(worstAbsolute(gotD, expectedD)); tail max relative diff value "
                  + "\(worstRelative(got, expected)), derivative \(worstRelative(gotD, expectedD))")
        }
    }

    // MARK: - Dropout

    /// Element i is kept iff the i-th `nextFloat()` of `SplitMix64(seed:)` is ≥ p —
    /// checked against one sequential generator over a buffer that runs in parallel
    /// chunks — and kept elements are scaled by exactly 1/(1 − p).
    func testDropoutMaskIsTheSeededSequence() {
        let n = 100_000, p: Float = 0.3, seed: UInt64 = 42
        let x = randomTensor([n], seed: 50)
        let y = Tape(recording: false).dropout(Variable(x), probability: p, seed: seed).value
        var rng = SplitMix64(seed: seed)
        let scale = 1 / (1 - p)
        let xs = x.scalars, ys = y.scalars
        var mismatches = 0
        for i in 0..<n {
            let expected = rng.nextFloat() >= p ? xs[i] * scale : 0
            if ys[i] != expected { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0, "dropout differs from the sequential SplitMix64 mask")

        let again = Tape(recording: false).dropout(Variable(x), probability: p, seed: seed).value
        XCTAssertEqual(again.scalars, ys, "the same seed must give the same mask")
        let other = Tape(recording: false).dropout(Variable(x), probability: p, seed: seed + 1).value
        XCTAssertNotEqual(other.scalars, ys, "another seed must give another mask")
    }

    /// On 2²⁰ elements the kept fraction is 1 − p and the mean is unchanged, within a
    /// few standard errors.
    func testDropoutKeepsFractionAndExpectedValue() {
        let n = 1 << 20
        let x = Tensor(zeros: [n])
        var rng = SplitMix64(seed: 60)
        for i in 0..<n { x.floats[i] = 2 + rng.nextNormal() }
        let mean = x.scalars.reduce(0.0) { $0 + Double($1) } / Double(n)
        for p: Float in [0.1, 0.25, 0.5, 0.9] {
            let y = Tape(recording: false).dropout(Variable(x), probability: p, seed: 7).value.scalars
            let kept = Double(y.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }) / Double(n)
            let dropMean = y.reduce(0.0) { $0 + Double($1) } / Double(n)
            // std error of the kept fraction: sqrt(p(1−p)/n) ≤ 5e-4
            XCTAssertEqual(kept, 1 - Double(p), accuracy: 0.0025, "kept fraction at p = \(p)")
            // std error of the mean: sqrt((E[x²]/(1−p) − E[x]²)/n) ≤ 7e-3 at p = 0.9
            XCTAssertEqual(dropMean, mean, accuracy: p == 0.9 ? 0.03 : 0.01, "mean at p = \(p)")
            print("dropout p = \(p): kept \(kept), mean \(dropMean) vs \(mean)")
        }
    }

    func testDropoutBackwardUsesTheSameMask() {
        let x = Variable(randomTensor([5, 41], seed: 70), requiresGrad: true, name: "x")
        let p: Float = 0.4
        checkGradients("dropout [5, 41]", inputs: [x], maxElements: 205) { $0.dropout(x, probability: p, seed: 1234) }
        for seed: UInt64 in 0..<4 {
            let one = Variable(randomTensor([1], seed: 72), requiresGrad: true, name: "one element")
            checkGradients("dropout one element, seed \(seed)", inputs: [one]) {
                $0.dropout(one, probability: 0.5, seed: seed)
            }
        }

        let tape = Tape()
        let y = tape.dropout(x, probability: p, seed: 99)
        let dy = randomTensor(y.shape, seed: 71)
        x.zeroGrad()
        tape.backward(from: y, gradient: dy)
        let scale = 1 / (1 - p)
        let expected = zip(y.value.scalars, dy.scalars).map { $0 != 0 ? $1 * scale : 0 }
        assertClose(x.grad!.scalars, expected, atol: 0, rtol: 0, "dropout backward mask")
    }

    func testDropoutWithZeroProbabilityIsTheIdentity() {
        let x = Variable(randomTensor([3, 4], seed: 80), requiresGrad: true)
        let tape = Tape()
        let y = tape.dropout(x, probability: 0, seed: 1)
        XCTAssertTrue(y === x, "p = 0 must return the input itself")
        XCTAssertEqual(tape.count, 0, "p = 0 must record nothing")
    }
}

/// The largest elementwise |a − b|.
private func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
