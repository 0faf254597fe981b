import XCTest
@testable import TrimtabTensor
import CTrimtabKernels
import TrimtabTestSupport

/// Products straight from ggml's block formats against the same weights dequantised.
final class QuantizedMatrixTests: XCTestCase {
    /// Random blocks of `format` for a `rows × columns` matrix, with scales of a realistic
    /// size (f16 0.001–0.02, Q4_1 minimums around −0.1).
    private func randomBlocks(_ format: QuantizedMatrix.Format, rows: Int, columns: Int, seed: UInt64) -> QuantizedMatrix {
        var rng = SplitMix64(seed: seed)
        let blocks = rows * columns / QuantizedMatrix.blockSize
        let storage = TensorStorage(byteCount: blocks * format.blockBytes)
        let bytes = storage.base.assumingMemoryBound(to: UInt8.self)
        func half(_ value: Float, at offset: Int) {
            let bits = f16Bits(value)
            bytes[offset] = UInt8(bits & 0xFF)
            bytes[offset + 1] = UInt8(bits >> 8)
        }
        for b in 0..<blocks {
            let start = b * format.blockBytes
            for i in 0..<format.blockBytes { bytes[start + i] = UInt8(truncatingIfNeeded: rng.next() >> 56) }
            half(0.001 + 0.019 * Float(rng.next() >> 40) / Float(1 << 24), at: start)
            if format == .q4_1 { half(-0.1 * Float(rng.next() >> 40) / Float(1 << 24), at: start + 2) }
        }
        return QuantizedMatrix(format: format, rows: rows, columns: columns, storage: storage)
    }

    private func randomInput(rows: Int, columns: Int, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let x = Tensor(zeros: [rows, columns])
        for i in 0..<x.count { x.floats[i] = rng.nextNormal() }
        return x
    }

    /// Checks `matrix.product` of 1–8 input rows against the dequantised weights times the
    /// rounded activations, in double precision.
    private func checkProducts(_ matrix: QuantizedMatrix, _ label: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let rows = matrix.rows, columns = matrix.columns
        let weight = matrix.dequantized()
        for inputRows in 1...QuantizedMatrix.maxRows {
            let x = randomInput(rows: inputRows, columns: columns, seed: UInt64(100 + inputRows))
            let rounded = matrix.roundedActivations(x.floats, inputRows: inputRows)
            let out = Tensor(zeros: [inputRows, rows])
            out.fill(.nan)  // the product overwrites every element
            matrix.product(x.floats, inputRows: inputRows, into: out.floats)
            for r in 0..<inputRows {
                for n in 0..<rows {
                    var expected = 0.0, magnitude = 0.0
                    for k in 0..<columns {
                        let term = Double(rounded.floats[r * columns + k]) * Double(weight.floats[n * columns + k])
                        expected += term
                        magnitude += abs(term)
                    }
                    XCTAssertEqual(Double(out.floats[r * rows + n]), expected, accuracy: 1e-5 * magnitude + 1e-6,
                                   "\(label) \(matrix.format), \(inputRows) rows: row \(r), output \(n)",
                                   file: file, line: line)
                }
            }
        }
    }

    func testProductEqualsDequantisedProductForEveryFormatAndRowCount() {
        for (index, format) in QuantizedMatrix.Format.allCases.enumerated() {
            for columns in [96, 256] {  // an odd and an even number of blocks
                checkProducts(randomBlocks(format, rows: 53, columns: columns, seed: UInt64(index)), "CPU's kernels")
            }
        }
    }

    func testPortableKernelsAgree() {
        // CI runs on AVX2 machines: the portable C kernels (other CPUs) are checked here.
        trimtab_kernels_force_portable(1)
        defer { trimtab_kernels_force_portable(0) }
        XCTAssertEqual(trimtab_kernels_use_avx2(), 0)
        for (index, format) in QuantizedMatrix.Format.allCases.enumerated() {
            checkProducts(randomBlocks(format, rows: 21, columns: 64, seed: UInt64(20 + index)), "portable")
        }
    }

    /// On an AVX-512 CPU the block products run the AVX-512 kernel; the AVX2 one (older
    /// x86 CPUs) is checked here. Odd and even block counts: the AVX-512 kernel takes
    /// blocks two at a time.
    func testAVX2KernelsAgree() throws {
        defer { trimtab_kernels_force_avx2(0) }
        guard trimtab_kernels_force_avx2(1) != 0 else {
            throw XCTSkip("this CPU has no AVX2 kernels beside its own best")
        }
        for (index, format) in QuantizedMatrix.Format.allCases.enumerated() {
            checkProducts(randomBlocks(format, rows: 21, columns: 96, seed: UInt64(30 + index)), "AVX2")
        }
    }

    func testActivationsRoundToSixteenBitsPerBlock() {
        let matrix = randomBlocks(.q4_1, rows: 1, columns: 96, seed: 12)
        let x = randomInput(rows: 2, columns: 96, seed: 13)
        x.floats[40] = 0  // a block with a zero keeps it
        for k in 64..<96 { x.floats[k] = 0 }  // an all-zero block stays zero
        let rounded = matrix.roundedActivations(x.floats, inputRows: 2)
        for block in 0..<6 {
            let range = (block * 32)..<(block * 32 + 32)
            let largest = range.map { abs(x.floats[$0]) }.max()!
            let step = largest / 32767
            for k in range {
                let value = rounded.floats[k]
                XCTAssertEqual(value, x.floats[k], accuracy: step * 0.52 + 1e-12, "element \(k)")
                if step > 0 {  // an integer multiple of the block's step, at most 32,767 of them
                    let units = value / step
                    XCTAssertEqual(units, units.rounded(), accuracy: 0.02, "element \(k)")
                    XCTAssertLessThanOrEqual(abs(units), 32767.5)
                }
            }
            // The block's largest magnitude is exactly ±32,767 steps.
            if step > 0 { XCTAssertTrue(range.contains { abs(abs(rounded.floats[$0]) - largest) <= largest * 1e-6 }) }
        }
        XCTAssertEqual(rounded.floats[40], 0)
        XCTAssertTrue((64..<96).allSatisfy { rounded.floats[$0] == 0 })
    }

    func testRoundedActivationsStayCloseToTheExactProduct() {
        // What the rounding costs on a realistic matrix: the product with the exact input.
        let matrix = randomBlocks(.q4_1, rows: 64, columns: 576, seed: 14)
        let weight = matrix.dequantized()
        let x = randomInput(rows: 1, columns: 576, seed: 15)
        let out = Tensor(zeros: [1, 64])
        matrix.product(x.floats, inputRows: 1, into: out.floats)
        var worst = 0.0
        for n in 0..<64 {
            var exact = 0.0, magnitude = 0.0
            for k in 0..<576 {
                let term = Double(x.floats[k]) * Double(weight.floats[n * 576 + k])
                exact += term
                magnitude += abs(term)
            }
            worst = max(worst, abs(Double(out.floats[n]) - exact) / magnitude)
        }
        // Half a step of max|x|/32767 a block, random in sign: about float rounding.
        XCTAssertLessThan(worst, 1e-5)
    }

    func testDequantisationFollowsTheBlockLayouts() {
        // One block per format with known fields: scale 0.5, Q4_1 minimum −1, byte j = j.
        for format in QuantizedMatrix.Format.allCases {
            let storage = TensorStorage(byteCount: format.blockBytes)
            let bytes = storage.base.assumingMemoryBound(to: UInt8.self)
            let scale = f16Bits(0.5), minimum = f16Bits(-1)
            bytes[0] = UInt8(scale & 0xFF); bytes[1] = UInt8(scale >> 8)
            let quantsAt = format == .q4_1 ? 4 : 2
            if format == .q4_1 { bytes[2] = UInt8(minimum & 0xFF); bytes[3] = UInt8(minimum >> 8) }
            for j in 0..<(format.blockBytes - quantsAt) { bytes[quantsAt + j] = UInt8(j) }
            let w = QuantizedMatrix(format: format, rows: 1, columns: 32, storage: storage).dequantized().scalars
            switch format {
            case .q4_0:  // low nibble of byte j = j (element j), high nibble 0 (element j + 16)
                XCTAssertEqual(w[3], 0.5 * (3 - 8))
                XCTAssertEqual(w[19], 0.5 * (0 - 8))
            case .q4_1:
                XCTAssertEqual(w[3], 0.5 * 3 - 1)
                XCTAssertEqual(w[19], -1)
            case .q8_0:
                XCTAssertEqual(w[3], 1.5)
                XCTAssertEqual(w[31], 15.5)
            }
        }
    }

    func testReorderingRowsCopiesWholeRows() {
        let matrix = randomBlocks(.q4_1, rows: 6, columns: 64, seed: 7)
        let reordered = matrix.reorderingRows { 5 - $0 }
        let a = matrix.dequantized(), b = reordered.dequantized()
        for i in 0..<6 {
            XCTAssertEqual(Array(UnsafeBufferPointer(start: b.floats + i * 64, count: 64)),
                           Array(UnsafeBufferPointer(start: a.floats + (5 - i) * 64, count: 64)))
        }
    }

    func testLinearMultipliesFewRowsFromTheBlocks() {
        let matrix = randomBlocks(.q8_0, rows: 40, columns: 64, seed: 3)
        let weight = Variable(matrix.dequantized())
        let tape = Tape(recording: false)
        // Blocks whose values differ from `weight.value` show which path a product took.
        let other = randomBlocks(.q8_0, rows: 40, columns: 64, seed: 4)
        weight.quantized = other
        let few = Variable(randomInput(rows: 3, columns: 64, seed: 5))
        let fromBlocks = Tensor(zeros: [3, 40])
        other.product(few.value.floats, inputRows: 3, into: fromBlocks.floats)
        XCTAssertEqual(tape.linear(few, weight).value.scalars, fromBlocks.scalars)
        // More rows than the blocks take: the dense weight.
        let many = Variable(randomInput(rows: QuantizedMatrix.maxRows + 1, columns: 64, seed: 6))
        weight.quantized = nil
        let dense = tape.linear(many, weight).value.scalars
        weight.quantized = other
        XCTAssertEqual(tape.linear(many, weight).value.scalars, dense)
        // A new value drops blocks that no longer match it.
        weight.value = matrix.dequantized()
        XCTAssertNil(weight.quantized)
    }

    func testBlocksTakeOneRowOverBF16Matrices() {
        let matrix = randomBlocks(.q4_1, rows: 16, columns: 32, seed: 8)
        let other = randomBlocks(.q4_1, rows: 16, columns: 32, seed: 9)
        let weight = Variable(matrix.dequantized().converted(to: .bf16))
        let tape = Tape(recording: false)
        let one = Variable(randomInput(rows: 1, columns: 32, seed: 10))
        let two = Variable(randomInput(rows: 2, columns: 32, seed: 11))
        let denseTwo = tape.linear(two, weight).value.scalars
        weight.quantized = other
        let fromBlocks = Tensor(zeros: [1, 16])
        other.product(one.value.floats, inputRows: 1, into: fromBlocks.floats)
        XCTAssertEqual(tape.linear(one, weight).value.scalars, fromBlocks.scalars)
        XCTAssertEqual(tape.linear(two, weight).value.scalars, denseTwo)
    }

    /// Several matrices of one width in one fused call give exactly their separate
    /// products (formats mixed, sizes that split unevenly across threads), and
    /// `Tape.linears` takes that path only when every weight has blocks for the rows.
    func testFusedProductsEqualSeparateOnes() {
        let matrices = [randomBlocks(.q4_1, rows: 576, columns: 96, seed: 12),
                        randomBlocks(.q8_0, rows: 37, columns: 96, seed: 13),
                        randomBlocks(.q4_0, rows: 190, columns: 96, seed: 14)]
        for inputRows in [1, 3, QuantizedMatrix.maxRows] {
            let x = randomInput(rows: inputRows, columns: 96, seed: UInt64(20 + inputRows))
            let separate = matrices.map { matrix -> [Float] in
                let out = Tensor(zeros: [inputRows, matrix.rows])
                matrix.product(x.floats, inputRows: inputRows, into: out.floats)
                return out.scalars
            }
            let fused = matrices.map { Tensor(zeros: [inputRows, $0.rows]) }
            for out in fused { out.fill(.nan) }
            QuantizedMatrix.products(matrices, x.floats, inputRows: inputRows, into: fused.map(\.floats))
            XCTAssertEqual(fused.map(\.scalars), separate, "\(inputRows) input rows")

            // Through the tape, with a bias on the second; blocks that differ from the dense
            // values show which path ran.
            let weights = matrices.map { Variable(randomInput(rows: $0.rows, columns: 96, seed: UInt64($0.rows))) }
            let bias = Variable(randomInput(rows: 1, columns: 37, seed: 30).reshaped([37]))
            let tape = Tape(recording: false)
            let input = Variable(x)
            let dense = tape.linears(input, weights, biases: [nil, bias, nil]).map(\.value.scalars)
            XCTAssertEqual(dense, zip(weights, [nil, bias, nil]).map { tape.linear(input, $0, bias: $1).value.scalars },
                           "without blocks: one linear each")
            for (weight, matrix) in zip(weights, matrices) { weight.quantized = matrix }
            let blocked = tape.linears(input, weights, biases: [nil, bias, nil]).map(\.value.scalars)
            var expected = separate
            for i in 0..<expected[1].count { expected[1][i] += bias.value.floats[i % 37] }
            XCTAssertEqual(blocked, expected, "\(inputRows) input rows through Tape.linears")
        }
    }
}
