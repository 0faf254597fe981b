import CTrimtabKernels
import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// RMSNorm, LayerNorm and softmax: values and gradients against PyTorch
/// (`scripts/reference/ops_norm.py`), finite differences, and a plain Double
/// reference for batches large enough to split across threads.
final class NormOpTests: XCTestCase {
    // MARK: - RMSNorm

    func testRMSNormMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_norm")
        for name in ["rms_norm", "rms_norm_gemma", "rms_norm_one_row"] {
            let c = try XCTUnwrap(fixtures.named(name), name)
            let x = Variable(c.tensor("x"), requiresGrad: true)
            let weight = Variable(c.tensor("weight"), requiresGrad: true)
            let tape = Tape()
            let y = tape.rmsNorm(x, weight: weight, eps: Float(c.double("eps")),
                                 weightOffset: Float(c.double("weightOffset")))
            assertClose(y.value, c.tensor("y"), name + " y")
            tape.backward(from: y, gradient: c.tensor("R"))
            assertClose(try XCTUnwrap(x.grad), c.tensor("dx"), name + " dx")
            assertClose(try XCTUnwrap(weight.grad), c.tensor("dweight"), name + " dweight")
        }
    }

    func testRMSNormGradients() {
        let x = Variable(randomTensor([2, 3, 8], seed: 1), requiresGrad: true)
        let weight = Variable(randomTensor([8], seed: 2), requiresGrad: true)
        checkGradients("rmsNorm", inputs: [x, weight]) { $0.rmsNorm(x, weight: weight, eps: 1e-5) }
        checkGradients("rmsNorm, weightOffset 1", inputs: [x, weight]) {
            $0.rmsNorm(x, weight: weight, eps: 1e-6, weightOffset: 1)
        }
        let row = Variable(randomTensor([1, 8], seed: 3), requiresGrad: true)
        checkGradients("rmsNorm, one row", inputs: [row, weight]) { $0.rmsNorm(row, weight: weight, eps: 1e-5) }
        // dim 1: y = x / sqrt(x² + eps) · w, smooth when eps is not tiny.
        let column = Variable(randomTensor([5, 1], seed: 4), requiresGrad: true)
        let scalarWeight = Variable(randomTensor([1], seed: 5), requiresGrad: true)
        checkGradients("rmsNorm, dim 1", inputs: [column, scalarWeight]) {
            $0.rmsNorm(column, weight: scalarWeight, eps: 0.5)
        }
        // A frozen weight: only dx.
        let frozen = Variable(randomTensor([8], seed: 6))
        checkGradients("rmsNorm, frozen weight", inputs: [x]) { $0.rmsNorm(x, weight: frozen, eps: 1e-5) }
        XCTAssertNil(frozen.grad)
    }

    func testRMSNormBF16WeightForward() {
        let x = randomTensor([3, 40], seed: 7)
        let w = randomTensor([40], seed: 8, scale: 0.2)
        let tape = Tape(recording: false)
        let y16 = tape.rmsNorm(Variable(x), weight: Variable(w.converted(to: .bf16)), eps: 1e-6, weightOffset: 1)
        let y32 = tape.rmsNorm(Variable(x), weight: Variable(w.converted(to: .bf16).converted(to: .f32)),
                               eps: 1e-6, weightOffset: 1)
        assertClose(y16.value, y32.value, atol: 0, rtol: 0, "bf16 weight")
    }

    /// Enough rows that forward and backward split across threads (and dweight is summed
    /// from per-chunk partials); checked against a plain Double implementation, at widths
    /// that fill the kernel's 16-lane vectors and widths that leave a tail, with the
    /// CPU's vector kernels and the portable ones.
    func testRMSNormManyRowsMatchesDoubleReference() {
        for dim in [96, 17, 1, 33] {
            checkRMSNormAgainstDoubleReference(rows: 300, dim: dim, "native")
        }
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        checkRMSNormAgainstDoubleReference(rows: 300, dim: 33, "portable")
    }

    private func checkRMSNormAgainstDoubleReference(rows: Int, dim: Int, _ label: String) {
        let x = Variable(randomTensor([rows, dim], seed: 9), requiresGrad: true)
        let weight = Variable(randomTensor([dim], seed: 10), requiresGrad: true)
        let dy = randomTensor([rows, dim], seed: 11)
        let tape = Tape()
        let y = tape.rmsNorm(x, weight: weight, eps: 1e-5, weightOffset: 0.5)
        tape.backward(from: y, gradient: dy)

        let xs = x.value.scalars.map(Double.init), ws = weight.value.scalars.map { Double($0) + 0.5 }
        let dys = dy.scalars.map(Double.init)
        var yRef = [Float](), dxRef = [Float](), dwRef = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            let row = Array(xs[r * dim ..< (r + 1) * dim]), g = Array(dys[r * dim ..< (r + 1) * dim])
            let s = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-5).squareRoot()
            let dot = (0..<dim).map { g[$0] * ws[$0] * row[$0] }.reduce(0, +)
            for i in 0..<dim {
                yRef.append(Float(row[i] * s * ws[i]))
                dxRef.append(Float(s * g[i] * ws[i] - s * s * s * row[i] * dot / Double(dim)))
                dwRef[i] += g[i] * row[i] * s
            }
        }
        assertClose(y.value.scalars, yRef, "\(label) dim \(dim): y")
        assertClose(x.grad?.scalars ?? [], dxRef, "\(label) dim \(dim): dx")
        assertClose(weight.grad?.scalars ?? [], dwRef.map(Float.init), atol: 1e-4, "\(label) dim \(dim): dweight")
    }

    /// With `roundedCopy`, the output is unchanged and its bf16 rounding comes along; a
    /// product over a bf16 weight reading that copy gives exactly the product that rounds
    /// the output itself.
    func testRMSNormRoundedCopyFeedsBF16Products() {
        let x = Variable(randomTensor([37, 40], seed: 15))
        let weight = Variable(randomTensor([40], seed: 16))
        let projection = Variable(randomTensor([24, 40], seed: 17, scale: 0.2).converted(to: .bf16))
        let tape = Tape(recording: false)
        let plain = tape.rmsNorm(x, weight: weight, eps: 1e-5)
        let withCopy = tape.rmsNorm(x, weight: weight, eps: 1e-5, roundedCopy: true)
        XCTAssertNil(plain.roundedBF16)
        assertClose(withCopy.value, plain.value, atol: 0, rtol: 0, "output next to the rounded copy")
        let copy = try! XCTUnwrap(withCopy.roundedBF16)
        XCTAssertEqual(copy.shape, [37, 40])
        XCTAssertEqual((0..<copy.count).map { copy.halves[$0] }, plain.value.scalars.map(bf16Bits), "rounded copy")
        assertClose(tape.linear(withCopy, projection).value, tape.linear(plain, projection).value, atol: 0, rtol: 0,
                    "product from the rounded copy")
        let reshaped = tape.reshape(withCopy, [37 * 40])
        XCTAssertEqual(reshaped.roundedBF16?.shape, [37 * 40], "a reshape keeps the copy")
    }

    /// Backward accumulates: two backward passes without zeroing give twice the gradient.
    func testRMSNormBackwardAccumulates() {
        let x = Variable(randomTensor([4, 8], seed: 12), requiresGrad: true)
        let weight = Variable(randomTensor([8], seed: 13), requiresGrad: true)
        let dy = randomTensor([4, 8], seed: 14)
        var once: [[Float]] = []
        for pass in 0..<2 {
            let tape = Tape()
            tape.backward(from: tape.rmsNorm(x, weight: weight, eps: 1e-5), gradient: dy)
            if pass == 0 { once = [x.grad?.scalars ?? [], weight.grad?.scalars ?? []] }
        }
        assertClose(x.grad?.scalars ?? [], once[0].map { 2 * $0 }, "accumulated dx")
        assertClose(weight.grad?.scalars ?? [], once[1].map { 2 * $0 }, "accumulated dweight")
    }

    // MARK: - LayerNorm

    func testLayerNormMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_norm")
        for name in ["layer_norm", "layer_norm_no_bias"] {
            let c = try XCTUnwrap(fixtures.named(name), name)
            let x = Variable(c.tensor("x"), requiresGrad: true)
            let weight = Variable(c.tensor("weight"), requiresGrad: true)
            let bias = c.bool("hasBias") ? Variable(c.tensor("bias"), requiresGrad: true) : nil
            let tape = Tape()
            let y = tape.layerNorm(x, weight: weight, bias: bias, eps: Float(c.double("eps")))
            assertClose(y.value, c.tensor("y"), name + " y")
            tape.backward(from: y, gradient: c.tensor("R"))
            assertClose(try XCTUnwrap(x.grad), c.tensor("dx"), name + " dx")
            assertClose(try XCTUnwrap(weight.grad), c.tensor("dweight"), name + " dweight")
            if let bias { assertClose(try XCTUnwrap(bias.grad), c.tensor("dbias"), name + " dbias") }
        }
    }

    func testLayerNormGradients() {
        let x = Variable(randomTensor([3, 2, 7], seed: 15), requiresGrad: true)
        let weight = Variable(randomTensor([7], seed: 16), requiresGrad: true)
        let bias = Variable(randomTensor([7], seed: 17), requiresGrad: true)
        checkGradients("layerNorm", inputs: [x, weight, bias]) { $0.layerNorm(x, weight: weight, bias: bias, eps: 1e-5) }
        checkGradients("layerNorm, no bias", inputs: [x, weight]) { $0.layerNorm(x, weight: weight, bias: nil, eps: 1e-5) }
        let row = Variable(randomTensor([1, 7], seed: 18), requiresGrad: true)
        checkGradients("layerNorm, one row", inputs: [row, weight, bias]) {
            $0.layerNorm(row, weight: weight, bias: bias, eps: 1e-5)
        }
        // dim 1: every row normalises to 0, so y = bias and dx = dweight = 0.
        let column = Variable(randomTensor([4, 1], seed: 19), requiresGrad: true)
        let w1 = Variable(randomTensor([1], seed: 20), requiresGrad: true)
        let b1 = Variable(randomTensor([1], seed: 21), requiresGrad: true)
        checkGradients("layerNorm, dim 1", inputs: [column, w1, b1]) { $0.layerNorm(column, weight: w1, bias: b1, eps: 1e-5) }
        // Frozen weight and bias: only dx.
        let frozenWeight = Variable(randomTensor([7], seed: 22)), frozenBias = Variable(randomTensor([7], seed: 23))
        checkGradients("layerNorm, frozen parameters", inputs: [x]) {
            $0.layerNorm(x, weight: frozenWeight, bias: frozenBias, eps: 1e-5)
        }
        XCTAssertNil(frozenWeight.grad)
        XCTAssertNil(frozenBias.grad)
    }

    func testLayerNormBF16ParametersForward() {
        let x = randomTensor([3, 40], seed: 24)
        let w = randomTensor([40], seed: 25), b = randomTensor([40], seed: 26)
        let rounded = { (t: Tensor) in t.converted(to: .bf16).converted(to: .f32) }
        let tape = Tape(recording: false)
        let y16 = tape.layerNorm(Variable(x), weight: Variable(w.converted(to: .bf16)),
                                 bias: Variable(b.converted(to: .bf16)), eps: 1e-5)
        let y32 = tape.layerNorm(Variable(x), weight: Variable(rounded(w)), bias: Variable(rounded(b)), eps: 1e-5)
        assertClose(y16.value, y32.value, atol: 0, rtol: 0, "bf16 parameters")
    }

    func testLayerNormManyRowsMatchesDoubleReference() {
        let (rows, dim) = (260, 80)
        let x = Variable(randomTensor([rows, dim], seed: 27), requiresGrad: true)
        let weight = Variable(randomTensor([dim], seed: 28), requiresGrad: true)
        let bias = Variable(randomTensor([dim], seed: 29), requiresGrad: true)
        let dy = randomTensor([rows, dim], seed: 30)
        let tape = Tape()
        let y = tape.layerNorm(x, weight: weight, bias: bias, eps: 1e-5)
        tape.backward(from: y, gradient: dy)

        let xs = x.value.scalars.map(Double.init), ws = weight.value.scalars.map(Double.init)
        let bs = bias.value.scalars.map(Double.init), dys = dy.scalars.map(Double.init)
        var yRef = [Float](), dxRef = [Float]()
        var dwRef = [Double](repeating: 0, count: dim), dbRef = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            let row = Array(xs[r * dim ..< (r + 1) * dim]), g = Array(dys[r * dim ..< (r + 1) * dim])
            let mean = row.reduce(0, +) / Double(dim)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            let s = 1 / (variance + 1e-5).squareRoot()
            let n = row.map { ($0 - mean) * s }
            let dn = (0..<dim).map { g[$0] * ws[$0] }
            let dnMean = dn.reduce(0, +) / Double(dim)
            let dnNormMean = (0..<dim).map { dn[$0] * n[$0] }.reduce(0, +) / Double(dim)
            for i in 0..<dim {
                yRef.append(Float(n[i] * ws[i] + bs[i]))
                dxRef.append(Float(s * (dn[i] - dnMean - n[i] * dnNormMean)))
                dwRef[i] += g[i] * n[i]
                dbRef[i] += g[i]
            }
        }
        assertClose(y.value.scalars, yRef, "many rows y")
        assertClose(x.grad?.scalars ?? [], dxRef, "many rows dx")
        assertClose(weight.grad?.scalars ?? [], dwRef.map(Float.init), atol: 1e-4, "many rows dweight")
        assertClose(bias.grad?.scalars ?? [], dbRef.map(Float.init), atol: 1e-4, "many rows dbias")
    }

    // MARK: - Softmax

    func testSoftmaxMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_norm")
        for name in ["softmax", "softmax_wide_range"] {
            let c = try XCTUnwrap(fixtures.named(name), name)
            let x = Variable(c.tensor("x"), requiresGrad: true)
            let tape = Tape()
            let y = tape.softmax(x)
            assertClose(y.value, c.tensor("y"), name + " y")
            tape.backward(from: y, gradient: c.tensor("R"))
            assertClose(try XCTUnwrap(x.grad), c.tensor("dx"), name + " dx")
        }
    }

    func testSoftmaxGradients() {
        let x = Variable(randomTensor([2, 3, 11], seed: 31, scale: 2), requiresGrad: true)
        checkGradients("softmax", inputs: [x]) { $0.softmax(x) }
        let row = Variable(randomTensor([1, 20], seed: 32), requiresGrad: true)
        checkGradients("softmax, one row", inputs: [row]) { $0.softmax(row) }
        // dim 1: y = 1 everywhere, dx = 0.
        let column = Variable(randomTensor([3, 1], seed: 33), requiresGrad: true)
        checkGradients("softmax, dim 1", inputs: [column]) { $0.softmax(column) }
    }

    /// Logits of ±1e4 give finite probabilities; softmax is shift-invariant, so logits
    /// offset by 1e4 give the values and gradients of the unshifted ones.
    func testSoftmaxLargeMagnitudes() {
        let extreme = try! Tensor(shape: [2, 4], values: [1e4, -1e4, 0, 1e4, -1e4, -1e4, -1e4 + 1, -1e4])
        let y = Tape(recording: false).softmax(Variable(extreme)).value.scalars
        XCTAssertTrue(y.allSatisfy { $0.isFinite }, "\(y)")
        assertClose(y, [0.5, 0, 0, 0.5, 0.1748777, 0.1748777, 0.4753669, 0.1748777], "extreme softmax")

        // Values on a 1/64 grid, exactly representable after adding 1e4.
        let small = randomTensor([3, 13], seed: 34, scale: 3)
        for i in 0..<small.count { small.floats[i] = (small.floats[i] * 64).rounded() / 64 }
        let shifted = small.copy()
        for i in 0..<shifted.count { shifted.floats[i] += (i / 13) % 2 == 0 ? 1e4 : -1e4 }
        let dy = randomTensor([3, 13], seed: 35)
        var results: [[[Float]]] = []
        for input in [small, shifted] {
            let x = Variable(input, requiresGrad: true)
            let tape = Tape()
            let y = tape.softmax(x)
            tape.backward(from: y, gradient: dy)
            results.append([y.value.scalars, x.grad?.scalars ?? []])
        }
        assertClose(results[1][0], results[0][0], "shifted softmax y")
        assertClose(results[1][1], results[0][1], "shifted softmax dx")
    }

    /// The vectorised exp used by softmax and cross-entropy, against libm.
    func testVectorExpAccuracy() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, Float(abs(Double(Softmax.exp(x)) - exact) / exact))
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7, "relative error of Softmax.exp")
        XCTAssertEqual(Softmax.exp(-1e4), 0)
        XCTAssertEqual(Softmax.exp(-100), 0)
        XCTAssertEqual(Softmax.exp(0), 1)
        XCTAssertTrue(Softmax.exp(1e4).isFinite)
    }
}
