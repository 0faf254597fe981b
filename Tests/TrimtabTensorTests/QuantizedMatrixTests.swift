import XCTest
@testable import TrimtabTensor

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

    func testProductEqualsDequantisedProductForEveryFormatAndRowCount() {
        for (index, format) in QuantizedMatrix.Format.allCases.enumerated() {
            let rows = 53, columns = 96
            let matrix = randomBlocks(format, rows: rows, columns: columns, seed: UInt64(index))
            let weight = matrix.dequantized()
            for inputRows in 1...QuantizedMatrix.maxRows {
                let x = randomInput(rows: inputRows, columns: columns, seed: UInt64(100 + inputRows))
                let out = Tensor(zeros: [inputRows, rows])
                out.fill(.nan)  // the product overwrites every element
                matrix.product(x.floats, inputRows: inputRows, into: out.floats)
                for r in 0..<inputRows {
                    for n in 0..<rows {
                        var expected = 0.0, magnitude = 0.0
                        for k in 0..<columns {
                            let term = Double(x.floats[r * columns + k]) * Double(weight.floats[n * columns + k])
                            expected += term
                            magnitude += abs(term)
                        }
                        XCTAssertEqual(Double(out.floats[r * rows + n]), expected, accuracy: 1e-5 * magnitude + 1e-6,
                                       "\(format) row \(r), output \(n)")
                    }
                }
            }
        }
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
}
