import CTrimtabKernels
import Foundation
import TrimtabTensor
import TrimtabTestSupport
import XCTest

/// The C kernels of attention — `trimtab_sgemm_small` (register-tiled products), the
/// softmax rows — and of SwiGLU against double-precision loops, and the bf16 rounding
/// against the scalar one, on the CPU's kernels and on the portable ones.
final class CKernelTests: XCTestCase {
    private struct Shape {
        var m: Int, n: Int, k: Int
        var transposedA = false
        var accumulate = false
        var alpha: Float = 1
    }

    private func check(_ s: Shape, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        // Strides larger than the operands, as attention passes them.
        let aRowStride = s.transposedA ? 1 : s.k + 3, aColumnStride = s.transposedA ? s.m + 5 : 1
        let aCount = s.transposedA ? s.k * aColumnStride : s.m * aRowStride
        let bStride = s.n + 16, outStride = s.n + 32
        let a = randomTensor([aCount], seed: UInt64(s.m * 1000 + s.k)).scalars
        let b = randomTensor([s.k * bStride], seed: UInt64(s.n * 1000 + s.k)).scalars
        let initial = randomTensor([s.m * outStride], seed: 7).scalars
        var out = initial
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { out in
                    trimtab_sgemm_small(s.m, s.n, s.k, a.baseAddress, aRowStride, aColumnStride, b.baseAddress, bStride,
                                        s.alpha, out.baseAddress, outStride, s.accumulate ? 1 : 0)
                }
            }
        }
        for i in 0..<s.m {
            for j in 0..<outStride {
                let index = i * outStride + j
                guard j < s.n else {
                    XCTAssertEqual(out[index], initial[index], "\(label): wrote past column \(s.n)", file: file, line: line)
                    continue
                }
                var sum = 0.0
                for p in 0..<s.k { sum += Double(a[i * aRowStride + p * aColumnStride]) * Double(b[p * bStride + j]) }
                let expected = Double(s.alpha) * sum + (s.accumulate ? Double(initial[index]) : 0)
                XCTAssertEqual(Double(out[index]), expected, accuracy: 1e-5 * (1 + abs(expected)) * Double(max(s.k, 1)),
                               "\(label) [\(i), \(j)]", file: file, line: line)
            }
        }
    }

    private let shapes = [
        Shape(m: 1, n: 16, k: 1),
        Shape(m: 8, n: 32, k: 64),
        Shape(m: 32, n: 160, k: 64, alpha: 0.125),           // scores of a query block
        Shape(m: 13, n: 48, k: 37, accumulate: true),          // every tile height, 16-column tail
        Shape(m: 29, n: 64, k: 32, transposedA: true, accumulate: true),  // dK += dsᵀ · Q
        Shape(m: 7, n: 16, k: 0, accumulate: true),            // empty sum leaves out as it was
        Shape(m: 3, n: 96, k: 5, transposedA: true),
    ]

    func testProductsMatchReference() {
        for (index, shape) in shapes.enumerated() { check(shape, "shape \(index)") }
    }

    func testPortableProductsMatchReference() {
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        for (index, shape) in shapes.enumerated() { check(shape, "portable, shape \(index)") }
    }

    /// Rows of every length around the 16-lane vectors, with −∞ entries (masked scores),
    /// very negative ones (exponentials that underflow) and a zeroed tail up to `end`.
    private func checkRows(_ label: String) {
        for count in [1, 5, 15, 16, 17, 33, 148] {
            let end = count + 7
            var row = randomTensor([end], seed: UInt64(count), scale: 6).scalars
            if count > 1 { row[count / 2] = -.infinity }
            if count > 3 { row[1] = -200 }
            for i in count..<end { row[i] = 42 }  // must become 0
            let input = Array(row[..<count]).map(Double.init)
            let m = input.max()!
            let sum = input.reduce(0.0) { $0 + Foundation.exp($1 - m) }

            var exps = row
            let shift: Float = 1.5
            let total = trimtab_exp_row(&exps, count, end, shift)
            let expected = input.map { Foundation.exp($0 - Double(shift)) }
            for i in 0..<count {
                XCTAssertEqual(Double(exps[i]), expected[i], accuracy: 2e-7 * max(1, expected[i]),
                               "\(label): exp row \(count) [\(i)]")
            }
            XCTAssertEqual(Double(total), expected.reduce(0, +), accuracy: 1e-6 * expected.reduce(0, +),
                           "\(label): exp row \(count) sum")
            XCTAssertEqual(Array(exps[count...]), [Float](repeating: 0, count: end - count), "\(label): tail")

            var softmax = row
            let lse = trimtab_softmax_row(&softmax, count, end)
            XCTAssertEqual(Double(lse), m + Foundation.log(sum), accuracy: 1e-5 * max(1, abs(m)),
                           "\(label): log-sum-exp \(count)")
            for i in 0..<count {
                XCTAssertEqual(Double(softmax[i]), Foundation.exp(input[i] - m) / sum, accuracy: 1e-6,
                               "\(label): softmax \(count) [\(i)]")
            }
            XCTAssertEqual(Array(softmax[count...]), [Float](repeating: 0, count: end - count), "\(label): tail")
        }
    }

    func testSoftmaxRowsMatchReference() {
        checkRows("native")
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        checkRows("portable")
    }

    /// SwiGLU forward and backward at lengths around the 16-lane vectors (tails), over
    /// inputs from −100 to 100 (where σ saturates), accumulating into nonzero gradients
    /// and overwriting NaN-filled ones.
    private func checkSwiGLU(_ label: String) {
        for count in [1, 15, 16, 17, 100] {
            var gate = randomTensor([count], seed: UInt64(count), scale: 8).scalars
            gate[0] = -100
            if count > 1 { gate[count - 1] = 100 }
            let up = randomTensor([count], seed: UInt64(count + 1)).scalars
            let dout = randomTensor([count], seed: UInt64(count + 2)).scalars
            let initialGate = randomTensor([count], seed: UInt64(count + 3)).scalars
            let initialUp = randomTensor([count], seed: UInt64(count + 4)).scalars
            var out = [Float](repeating: .nan, count: count)
            var dgate = initialGate, dup = initialUp
            trimtab_swiglu_forward(&out, nil, gate, up, count)
            trimtab_swiglu_backward(&dgate, &dup, dout, gate, up, count, 1, 1)
            // With a rounded copy: the same output, and the copy is its bf16 rounding.
            var roundedOut = [Float](repeating: .nan, count: count)
            var rounded = [UInt16](repeating: 0xABCD, count: count + 1)
            trimtab_swiglu_forward(&roundedOut, &rounded, gate, up, count)
            XCTAssertEqual(roundedOut, out, "\(label): output next to a rounded copy")
            XCTAssertEqual(Array(rounded.prefix(count)), out.map(bf16Bits), "\(label): rounded output")
            XCTAssertEqual(rounded[count], 0xABCD, "\(label): rounded output written past \(count)")
            // Overwriting: the buffers' NaNs must not be read.
            var freshGate = [Float](repeating: .nan, count: count), freshUp = freshGate
            trimtab_swiglu_backward(&freshGate, &freshUp, dout, gate, up, count, 0, 0)
            for i in 0..<count {
                let g = Double(gate[i]), u = Double(up[i]), dy = Double(dout[i])
                let s = 1 / (1 + Foundation.exp(-g))
                let gradGate = dy * u * s * (1 + g * (1 - s)), gradUp = dy * g * s
                let expected = [g * s * u, Double(initialGate[i]) + gradGate, Double(initialUp[i]) + gradUp,
                                gradGate, gradUp]
                let values = [out[i], dgate[i], dup[i], freshGate[i], freshUp[i]]
                for (name, (value, reference)) in zip(["out", "dgate", "dup", "dgate (overwritten)", "dup (overwritten)"],
                                                      zip(values, expected)) {
                    XCTAssertEqual(Double(value), reference, accuracy: 1e-5 * max(1, abs(reference)),
                                   "\(label): swiglu \(name) [\(i) of \(count)], gate \(g)")
                }
            }
            // Kept in bf16: the same output, the inputs rounded as trimtab_f32_to_bf16, and
            // the gradients of the f32 kernel at the rounded inputs, bit for bit.
            var keptOut = [Float](repeating: .nan, count: count)
            var keptGate = [UInt16](repeating: 0xABCD, count: count + 1), keptUp = keptGate
            var keptRounded = [UInt16](repeating: 0xABCD, count: count)
            trimtab_swiglu_forward_keeping_bf16(&keptOut, &keptRounded, gate, up, &keptGate, &keptUp, count)
            XCTAssertEqual(keptOut, out, "\(label): output with kept inputs")
            XCTAssertEqual(keptRounded, out.map(bf16Bits), "\(label): rounded output with kept inputs")
            XCTAssertEqual(Array(keptGate.prefix(count)), gate.map(bf16Bits), "\(label): kept gate")
            XCTAssertEqual(Array(keptUp.prefix(count)), up.map(bf16Bits), "\(label): kept up")
            XCTAssertEqual([keptGate[count], keptUp[count]], [0xABCD, 0xABCD], "\(label): wrote past \(count)")
            let roundedGate = keptGate.prefix(count).map(floatFromBF16), roundedUp = keptUp.prefix(count).map(floatFromBF16)
            for accumulate: Int32 in [0, 1] {
                let start = accumulate == 1 ? (initialGate, initialUp)
                    : ([Float](repeating: .nan, count: count), [Float](repeating: .nan, count: count))
                var fromKept = start, reference = start
                trimtab_swiglu_backward_bf16(&fromKept.0, &fromKept.1, dout, keptGate, keptUp, count, accumulate, accumulate)
                trimtab_swiglu_backward(&reference.0, &reference.1, dout, roundedGate, roundedUp, count,
                                        accumulate, accumulate)
                XCTAssertEqual(fromKept.0, reference.0, "\(label): dgate from bf16, accumulate \(accumulate)")
                XCTAssertEqual(fromKept.1, reference.1, "\(label): dup from bf16, accumulate \(accumulate)")
            }
            var onlyUp = initialUp
            trimtab_swiglu_backward(nil, &onlyUp, dout, gate, up, count, 1, 1)
            XCTAssertEqual(onlyUp, dup, "\(label): dup alone")
            var onlyFreshUp = [Float](repeating: .nan, count: count)
            trimtab_swiglu_backward(nil, &onlyFreshUp, dout, gate, up, count, 1, 0)
            XCTAssertEqual(onlyFreshUp, freshUp, "\(label): dup alone, overwritten")
        }
    }

    func testSwiGLUMatchesReference() {
        checkSwiGLU("native")
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        checkSwiGLU("portable")
    }

    /// The vector bf16 rounding against the scalar `bf16Bits`, bit for bit: ties to even
    /// both ways, values that round up to infinity, infinities, subnormals, signed zeros and
    /// NaNs (quiet, sign and payload kept), at lengths around the 16-lane vectors.
    private func checkBF16Rounding(_ label: String) {
        let special: [Float] = [
            0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7F80_0001),
            Float(bitPattern: 0xFFC1_2345), .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            .leastNonzeroMagnitude, Float(bitPattern: 0x0001_8000), Float(bitPattern: 0x3F80_8000),
            Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF),
        ]
        let random = randomTensor([200], seed: 11, scale: 1000).scalars
        for count in [1, 15, 16, 17, 18, 33, 218] {
            let src = Array((special + random).prefix(count))
            var dst = [UInt16](repeating: 0xABCD, count: count + 1)
            trimtab_f32_to_bf16(src, &dst, count)
            for i in 0..<count {
                XCTAssertEqual(dst[i], bf16Bits(src[i]),
                               "\(label): bf16 of \(String(src[i].bitPattern, radix: 16)) [\(i) of \(count)]")
            }
            XCTAssertEqual(dst[count], 0xABCD, "\(label): wrote past \(count) elements")
        }
    }

    func testBF16RoundingMatchesScalar() {
        checkBF16Rounding("native")
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        checkBF16Rounding("portable")
    }
}
