import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// add, addBias, mul, scale and reshape: finite differences, PyTorch references, and the
/// parallel paths against plain loops.
final class ElementwiseOpTests: XCTestCase {
    private static let shapes: [[Int]] = [[1], [1, 7], [3, 5], [2, 3, 17]]

    func testAddGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let a = Variable(randomTensor(shape, seed: UInt64(10 + i)), requiresGrad: true, name: "a")
            let b = Variable(randomTensor(shape, seed: UInt64(20 + i)), requiresGrad: true, name: "b")
            checkGradients("add \(shape)", inputs: [a, b]) { $0.add(a, b) }
        }
        // The same variable on both sides gets both contributions: d(a + a)/da = 2.
        let a = Variable(randomTensor([4, 6], seed: 30), requiresGrad: true)
        checkGradients("add(a, a)", inputs: [a]) { $0.add(a, a) }
    }

    func testAddBiasGradients() {
        let cases: [([Int], Int)] = [([1], 1), ([5], 5), ([1, 7], 7), ([4, 3], 3), ([2, 3, 21], 21)]
        for (i, (shape, C)) in cases.enumerated() {
            let x = Variable(randomTensor(shape, seed: UInt64(40 + i)), requiresGrad: true, name: "x")
            let bias = Variable(randomTensor([C], seed: UInt64(50 + i)), requiresGrad: true, name: "bias")
            checkGradients("addBias \(shape)", inputs: [x, bias]) { $0.addBias(x, bias) }
        }
    }

    func testMulGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let a = Variable(randomTensor(shape, seed: UInt64(60 + i)), requiresGrad: true, name: "a")
            let b = Variable(randomTensor(shape, seed: UInt64(70 + i)), requiresGrad: true, name: "b")
            checkGradients("mul \(shape)", inputs: [a, b]) { $0.mul(a, b) }
        }
        // d(a ⊙ a)/da = 2a.
        let a = Variable(randomTensor([3, 18], seed: 80), requiresGrad: true)
        checkGradients("mul(a, a)", inputs: [a]) { $0.mul(a, a) }
    }

    func testScaleGradients() {
        for (i, shape) in Self.shapes.enumerated() {
            let x = Variable(randomTensor(shape, seed: UInt64(90 + i)), requiresGrad: true, name: "x")
            checkGradients("scale \(shape)", inputs: [x]) { $0.scale(x, by: -1.75) }
        }
    }

    func testReshapeSharesStorageAndPassesGradient() {
        let x = Variable(randomTensor([2, 3, 4], seed: 100), requiresGrad: true, name: "x")
        let tape = Tape()
        let y = tape.reshape(x, [6, 4])
        XCTAssertEqual(y.shape, [6, 4])
        XCTAssertTrue(y.value.storage === x.value.storage, "reshape must be a view, not a copy")
        // Through a following op, so a non-uniform gradient flows back through the view.
        let w = Variable(randomTensor([4], seed: 101), requiresGrad: true, name: "bias")
        checkGradients("reshape → addBias", inputs: [x, w]) { tape in
            tape.mul(tape.reshape(tape.addBias(tape.reshape(x, [6, 4]), w), [2, 12]),
                     Variable(randomTensor([2, 12], seed: 102)))
        }
        checkGradients("reshape to [1, 24, 1]", inputs: [x]) { $0.reshape(x, [1, 24, 1]) }
    }

    /// add and reshape hand their output gradient on instead of copying it: a first
    /// gradient becomes the input's own (no copy), later ones add into it, and the root's
    /// gradient — which outlives backward — is never handed on.
    func testGradientHandOff() {
        let seed = randomTensor([3, 8], seed: 130)
        let x = Variable(randomTensor([24], seed: 131), requiresGrad: true)
        let tape = Tape()
        // root = reshape(x) + reshape(x): the root's gradient goes to both views as copies;
        // the first view's backward hands its copy to x, the second adds into it.
        let root = tape.add(tape.reshape(x, [3, 8]), tape.reshape(x, [3, 8]))
        tape.backward(from: root, gradient: seed)
        assertClose(root.grad!, seed, atol: 0, rtol: 0, "the root's gradient after backward")
        assertClose(x.grad!.scalars, seed.scalars.map { 2 * $0 }, atol: 0, rtol: 0, "dx of 2 reshape(x)")
        XCTAssertFalse(x.grad!.storage === root.grad!.storage, "x must not share the root's gradient")

        // A chain below the root: the sum's gradient moves through the reshape to y
        // without a copy, and a second use of y (the residual) adds into it.
        let y = Variable(randomTensor([3, 8], seed: 132), requiresGrad: true)
        let other = Variable(randomTensor([24], seed: 133), requiresGrad: true)
        let chain = Tape()
        let sum = chain.add(chain.reshape(y, [24]), other)
        let out = chain.mul(chain.reshape(sum, [3, 8]), y)
        chain.backward(from: out, gradient: seed)
        // out = (y + o) ⊙ y: d/dy = g·y (through the sum) + g·(y + o) (the factor y); d/do = g·y.
        let ys = y.value.scalars, os = other.value.scalars, ds = seed.scalars
        var dy = [Float](repeating: 0, count: 24)
        for i in 0..<24 {
            let throughSum: Float = ds[i] * ys[i]
            dy[i] = throughSum + ds[i] * (ys[i] + os[i])
        }
        assertClose(y.grad!.scalars, dy, atol: 1e-6, rtol: 1e-6, "dy through the hand-offs")
        assertClose(other.grad!.scalars, (0..<24).map { ds[$0] * ys[$0] }, atol: 0, rtol: 0, "d other")
        XCTAssertEqual(y.grad!.shape, [3, 8])
        XCTAssertEqual(other.grad!.shape, [24])
        checkGradients("reshape → add → reshape → mul", inputs: [y, other]) { tape in
            tape.mul(tape.reshape(tape.add(tape.reshape(y, [24]), other), [3, 8]), y)
        }
    }

    /// A node leaves the tape once its backward has run, so what only its closure kept
    /// (here `h`, read by the product's backward) is freed before the nodes below run —
    /// memory backward returns layer by layer — and the gradients are unchanged.
    func testBackwardReleasesEachNodeAfterItRuns() {
        let x = Variable(randomTensor([4, 8], seed: 140), requiresGrad: true)
        let seed = randomTensor([4, 8], seed: 141)
        let tape = Tape()
        weak var weakH: Variable?
        var hFreedBeforeBottom: Bool?
        // The bottom node: its backward runs last.
        let bottom = tape.output(.scale, x.value.copy(), inputs: [x], unread: [x]) { dout in
            hFreedBeforeBottom = weakH == nil
            x.gradBuffer().assign(from: dout)
        }
        let out: Variable
        do {
            let h = tape.scale(bottom, by: 3)
            weakH = h
            out = tape.mul(h, h)
        }
        XCTAssertNotNil(weakH, "h is alive while the tape holds the product's node")
        tape.backward(from: out, gradient: seed)
        XCTAssertEqual(hFreedBeforeBottom, true, "h must be freed before the bottom node's backward")
        // out = (3x)²: dx = 18 x · seed.
        let xs = x.value.scalars, ds = seed.scalars
        assertClose(x.grad!.scalars, (0..<32).map { 18 * xs[$0] * ds[$0] }, atol: 1e-5, rtol: 1e-5, "dx")
        XCTAssertEqual(tape.count, 0)
    }

    func testFrozenInputsGetNoGradient() {
        let x = Variable(randomTensor([3, 8], seed: 110), requiresGrad: true)
        let frozen = Variable(randomTensor([8], seed: 111))
        let other = Variable(randomTensor([3, 8], seed: 112))
        let tape = Tape()
        let y = tape.mul(tape.addBias(x, frozen), other)
        tape.backward(from: y)
        XCTAssertNil(frozen.grad)
        XCTAssertNil(other.grad)
        // d(Σ (x + b) ⊙ o)/dx = o
        assertClose(x.grad!, other.value, atol: 0, rtol: 0, "dx of (x + b) ⊙ o")

        let inference = Tape()
        _ = inference.add(Variable(randomTensor([4], seed: 113)), Variable(randomTensor([4], seed: 114)))
        XCTAssertEqual(inference.count, 0, "an op with no trainable input must not be recorded")
    }

    /// Forward values and gradients of Σ y ⊙ R against PyTorch.
    func testAgainstPyTorch() throws {
        let file = try FixtureFile.load("ops_pointwise")
        func run(_ name: String, inputs: [String], _ build: (Tape, [Variable]) -> Variable) throws {
            try checkAgainstFixture(file, name, inputs: inputs, build)
        }
        try run("add", inputs: ["a", "b"]) { $0.add($1[0], $1[1]) }
        try run("addBias", inputs: ["x", "bias"]) { $0.addBias($1[0], $1[1]) }
        try run("mul", inputs: ["a", "b"]) { $0.mul($1[0], $1[1]) }
        let factor = Float(try XCTUnwrap(file.named("scale")).double("factor"))
        try run("scale", inputs: ["x"]) { $0.scale($1[0], by: factor) }
    }

    /// Buffers large enough to split across threads agree with plain loops.
    func testParallelPathsMatchPlainLoops() {
        let rows = 300, C = 301
        let x = randomTensor([rows, C], seed: 120), other = randomTensor([rows, C], seed: 121)
        let bias = randomTensor([C], seed: 122), dy = randomTensor([rows, C], seed: 123)
        let a = Variable(x, requiresGrad: true), b = Variable(other, requiresGrad: true)
        let v = Variable(bias, requiresGrad: true)
        let tape = Tape()
        let y = tape.addBias(tape.mul(a, b), v)
        tape.backward(from: y, gradient: dy)

        var expected = [Float](repeating: 0, count: rows * C), dbias = [Float](repeating: 0, count: C)
        let xs = x.scalars, os = other.scalars, bs = bias.scalars, ds = dy.scalars
        for r in 0..<rows {
            for c in 0..<C {
                expected[r * C + c] = xs[r * C + c] * os[r * C + c] + bs[c]
                dbias[c] += ds[r * C + c]
            }
        }
        assertClose(y.value.scalars, expected, atol: 0, rtol: 0, "mul + addBias forward")
        assertClose(a.grad!.scalars, zip(ds, os).map { $0 * $1 }, atol: 0, rtol: 0, "da")
        assertClose(b.grad!.scalars, zip(ds, xs).map { $0 * $1 }, atol: 0, rtol: 0, "db")
        assertClose(v.grad!.scalars, dbias, atol: 1e-5, rtol: 1e-5, "dbias")
    }
}

/// The largest elementwise |a − b|.
private func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
