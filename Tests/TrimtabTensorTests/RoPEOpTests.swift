import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

final class RoPEOpTests: XCTestCase {
    /// The table's cos/sin agree with transformers' `LlamaRotaryEmbedding` (f32 angles),
    /// also at positions in the thousands where the f32 rounding of `pos · inv_freq` shows.
    func testTableMatchesTransformers() throws {
        let fixtures = try FixtureFile.load("ops_attention")
        let cases = fixtures.cases.filter { $0.string("op") == "ropeTable" }
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let positions = c.ints("positions"), half = c.int("rotaryDim") / 2
            let table = RoPETable(headDim: c.int("headDim"), rotaryDim: c.int("rotaryDim"),
                                  base: Float(c.double("base")), maxPositions: positions.max()! + 1)
            let cosines = positions.flatMap { table.cosines[$0 * half ..< ($0 + 1) * half] }
            let sines = positions.flatMap { table.sines[$0 * half ..< ($0 + 1) * half] }
            assertClose(cosines, c.tensor("cos").scalars, atol: 1e-6, rtol: 0, "\(c.name) cos")
            assertClose(sines, c.tensor("sin").scalars, atol: 1e-6, rtol: 0, "\(c.name) sin")
        }
    }

    /// Forward and backward against HF's `apply_rotary_pos_emb` (rotate-half) and Meta's
    /// complex rotation (interleaved), including partial rotary.
    func testMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_attention")
        let cases = fixtures.cases.filter { $0.string("op") == "rope" }
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let x = Variable(c.tensor("x"), requiresGrad: true)
            let positions = c.ints("positions").map(Int32.init)
            let table = RoPETable(headDim: x.shape[3], rotaryDim: c.int("rotaryDim"),
                                  base: Float(c.double("base")), maxPositions: 64)
            let layout: RoPELayout = c.string("layout") == "interleaved" ? .interleaved : .rotateHalf
            let tape = Tape()
            let y = tape.rope(x, table: table, positions: positions, layout: layout)
            assertClose(y.value, c.tensor("out"), atol: 1e-5, rtol: 1e-4, "\(c.name) forward")
            tape.backward(from: y, gradient: c.tensor("dout"))
            assertClose(x.grad!, c.tensor("dx"), atol: 1e-5, rtol: 1e-4, "\(c.name) dx")
        }
    }

    func testGradients() {
        let table = RoPETable(headDim: 8, base: 10_000, maxPositions: 100)
        let partial = RoPETable(headDim: 10, rotaryDim: 6, base: 500, maxPositions: 100)
        let positions: [Int32] = [0, 7, 3, 99, 42, 1]
        for layout in [RoPELayout.rotateHalf, .interleaved] {
            let x = Variable(randomTensor([2, 3, 2, 8], seed: 21), requiresGrad: true)
            checkGradients("rope \(layout)", inputs: [x]) { $0.rope(x, table: table, positions: positions, layout: layout) }
            let xp = Variable(randomTensor([3, 2, 1, 10], seed: 22), requiresGrad: true)
            checkGradients("rope \(layout) partial", inputs: [xp]) {
                $0.rope(xp, table: partial, positions: positions, layout: layout)
            }
            let single = Variable(randomTensor([1, 1, 3, 8], seed: 23), requiresGrad: true)
            checkGradients("rope \(layout) one token", inputs: [single]) {
                $0.rope(single, table: table, positions: [57], layout: layout)
            }
        }
    }

    /// A rotation keeps every head's norm; dimensions past `rotaryDim` are untouched.
    func testPreservesNormsAndPassThrough() {
        let table = RoPETable(headDim: 12, rotaryDim: 8, base: 10_000, maxPositions: 2048)
        let x = randomTensor([2, 5, 3, 12], seed: 24)
        let positions: [Int32] = [0, 1, 2, 3, 4, 2047, 1000, 5, 0, 13]
        for layout in [RoPELayout.rotateHalf, .interleaved] {
            let y = Tape(recording: false).rope(Variable(x), table: table, positions: positions, layout: layout).value
            let xs = x.scalars, ys = y.scalars
            var worstNorm: Float = 0
            for head in 0..<(xs.count / 12) {
                let row = head * 12
                let nx = (row ..< row + 12).reduce(Float(0)) { $0 + xs[$1] * xs[$1] }
                let ny = (row ..< row + 12).reduce(Float(0)) { $0 + ys[$1] * ys[$1] }
                worstNorm = max(worstNorm, abs(nx - ny) / nx)
                XCTAssertEqual(Array(ys[row + 8 ..< row + 12]), Array(xs[row + 8 ..< row + 12]), "\(layout) pass-through")
            }
            XCTAssertLessThan(worstNorm, 1e-5, "\(layout): relative change of a squared norm")
            // Position 0 is the identity.
            XCTAssertEqual(Array(ys[0..<36]), Array(xs[0..<36]), "\(layout) position 0")
        }
    }

    /// Backward is the inverse rotation: back-propagating y = R x as the gradient gives x back.
    func testBackwardIsInverseRotation() {
        let table = RoPETable(headDim: 16, rotaryDim: 12, base: 10_000, maxPositions: 512)
        let positions: [Int32] = [5, 511, 17, 300, 0, 64]
        for layout in [RoPELayout.rotateHalf, .interleaved] {
            let x = Variable(randomTensor([2, 3, 4, 16], seed: 25), requiresGrad: true)
            let tape = Tape()
            let y = tape.rope(x, table: table, positions: positions, layout: layout)
            tape.backward(from: y, gradient: y.value.copy())
            assertClose(x.grad!, x.value, atol: 1e-5, rtol: 1e-5, "\(layout): Rᵀ R x = x")
        }
    }

    /// Positions are per token: a left-padded row rotated with shifted positions matches
    /// the unpadded row.
    func testPerTokenPositions() {
        let table = RoPETable(headDim: 8, base: 10_000, maxPositions: 16)
        let x = randomTensor([1, 3, 2, 8], seed: 26)
        let plain = Tape(recording: false).rope(Variable(x), table: table, positions: [0, 1, 2], layout: .rotateHalf)
        let padded = Tensor(zeros: [1, 5, 2, 8])
        padded.floats.advanced(by: 2 * 16).update(from: x.floats, count: x.count)
        let shifted = Tape(recording: false).rope(Variable(padded), table: table, positions: [0, 0, 0, 1, 2],
                                                  layout: .rotateHalf)
        XCTAssertEqual(Array(shifted.value.scalars[32...]), plain.value.scalars)
    }
}
