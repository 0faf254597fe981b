import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// embedding and concatSequence: finite differences, sparsity of the table gradient,
/// 16-bit tables, batch-1 broadcast, empty parts, and PyTorch references.
final class EmbeddingOpTests: XCTestCase {
    // MARK: - embedding

    func testEmbeddingGradientsWithRepeatedIds() {
        let table = Variable(randomTensor([11, 20], seed: 1), requiresGrad: true, name: "table")
        // 3 appears three times and 7 twice: scatter-add must sum every use.
        let ids: [Int32] = [3, 7, 1, 3, 10, 4, 3, 7, 1, 4]
        checkGradients("embedding [2, 5]", inputs: [table], maxElements: 220) {
            $0.embedding(table, ids: ids, shape: [2, 5])
        }
        checkGradients("embedding, one id", inputs: [table], maxElements: 220) {
            $0.embedding(table, ids: [10], shape: [1])
        }
        checkGradients("embedding, scalar id grid", inputs: [table], maxElements: 220) {
            $0.embedding(table, ids: [0], shape: [])
        }
        let single = Variable(randomTensor([1, 3], seed: 2), requiresGrad: true, name: "one-row table")
        checkGradients("embedding, one-row table", inputs: [single]) {
            $0.embedding(single, ids: [0, 0, 0, 0], shape: [2, 2])
        }
    }

    func testEmbeddingForwardShapeAndRows() {
        let table = randomTensor([6, 5], seed: 3)
        let ids: [Int32] = [5, 0, 2, 2, 1, 5]
        let y = Tape(recording: false).embedding(Variable(table), ids: ids, shape: [3, 2]).value
        XCTAssertEqual(y.shape, [3, 2, 5])
        let t = table.scalars
        let expected = ids.flatMap { id in t[Int(id) * 5..<Int(id) * 5 + 5] }
        assertClose(y.scalars, expected, atol: 0, rtol: 0, "embedding rows")
    }

    /// The table's gradient is nonzero only in rows some id names; every other row stays
    /// exactly zero, and a used row holds the sum of its positions' output gradients.
    func testEmbeddingGradientTouchesOnlyUsedRows() {
        let V = 50, C = 7
        let table = Variable(randomTensor([V, C], seed: 4), requiresGrad: true)
        let ids: [Int32] = [17, 3, 17, 42, 3, 17]
        let tape = Tape()
        let y = tape.embedding(table, ids: ids, shape: [2, 3])
        let dy = randomTensor(y.shape, seed: 5)
        tape.backward(from: y, gradient: dy)
        let grad = table.grad!.scalars, d = dy.scalars
        for row in 0..<V {
            let slice = grad[row * C..<(row + 1) * C]
            var expected = [Float](repeating: 0, count: C)
            for (n, id) in ids.enumerated() where Int(id) == row {
                for c in 0..<C { expected[c] += d[n * C + c] }
            }
            if ids.contains(Int32(row)) {
                XCTAssertTrue(slice.contains { $0 != 0 }, "row \(row) is used but got no gradient")
                assertClose(Array(slice), expected, atol: 1e-6, rtol: 1e-6, "row \(row)")
            } else {
                XCTAssertTrue(slice.allSatisfy { $0 == 0 }, "row \(row) is unused but got a gradient")
            }
        }
    }

    /// A frozen bf16 or f16 table gives exactly the widened rows, and records nothing.
    func testSixteenBitFrozenTables() {
        let table = randomTensor([9, 24], seed: 6)
        let ids: [Int32] = [8, 0, 4, 4]
        for dtype in [DType.bf16, .f16] {
            let narrow = table.converted(to: dtype)
            let widened = narrow.converted(to: .f32)
            let tape = Tape()
            let y = tape.embedding(Variable(narrow), ids: ids, shape: [4])
            let reference = Tape(recording: false).embedding(Variable(widened), ids: ids, shape: [4])
            assertClose(y.value, reference.value, atol: 0, rtol: 0, "\(dtype) table")
            XCTAssertEqual(tape.count, 0)
        }
    }

    /// Many positions and wide rows: the channel-split backward (threads) matches a
    /// plain loop.
    func testEmbeddingParallelBackwardMatchesPlainLoop() {
        let V = 40, C = 300, N = 600
        var rng = SplitMix64(seed: 7)
        let ids = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let table = Variable(randomTensor([V, C], seed: 8), requiresGrad: true)
        let tape = Tape()
        let y = tape.embedding(table, ids: ids, shape: [N])
        let dy = randomTensor([N, C], seed: 9)
        tape.backward(from: y, gradient: dy)
        var expected = [Float](repeating: 0, count: V * C)
        let d = dy.scalars
        for (n, id) in ids.enumerated() {
            for c in 0..<C { expected[Int(id) * C + c] += d[n * C + c] }
        }
        assertClose(table.grad!.scalars, expected, atol: 0, rtol: 0, "parallel scatter-add")
    }

    // MARK: - concatSequence

    func testConcatSequenceGradients() {
        let C = 5
        let prompt = Variable(randomTensor([1, 3, C], seed: 10), requiresGrad: true, name: "prompt [1, 3, C]")
        let empty = Variable(Tensor(zeros: [2, 0, C]), requiresGrad: true, name: "empty [2, 0, C]")
        let seq = Variable(randomTensor([2, 4, C], seed: 11), requiresGrad: true, name: "seq [2, 4, C]")
        let suffix = Variable(randomTensor([1, 2, C], seed: 12), requiresGrad: true, name: "suffix [1, 2, C]")
        checkGradients("prompt ++ empty ++ seq ++ suffix", inputs: [prompt, empty, seq, suffix], maxElements: 100) {
            $0.concatSequence([prompt, empty, seq, suffix])
        }
        checkGradients("one part", inputs: [seq], maxElements: 100) { $0.concatSequence([seq]) }
        let one = Variable(randomTensor([1, 1, 1], seed: 13), requiresGrad: true, name: "[1, 1, 1]")
        let frozen = Variable(randomTensor([1, 3, 1], seed: 14))
        checkGradients("all batch-1, C = 1, frozen middle", inputs: [one], maxElements: 100) {
            $0.concatSequence([one, frozen, one])
        }
        // The same variable twice: both slices' gradients accumulate into it.
        checkGradients("x ++ x", inputs: [seq], maxElements: 100) { $0.concatSequence([seq, seq]) }
    }

    func testConcatSequenceForwardAndFrozenParts() {
        let C = 3
        let prompt = Variable(randomTensor([1, 2, C], seed: 15), requiresGrad: true)
        let seq = Variable(randomTensor([3, 1, C], seed: 16))
        let tape = Tape()
        let y = tape.concatSequence([prompt, seq])
        XCTAssertEqual(y.shape, [3, 3, C])
        let p = prompt.value.scalars, s = seq.value.scalars
        var expected: [Float] = []
        for b in 0..<3 { expected += p + s[b * C..<(b + 1) * C] }
        assertClose(y.value.scalars, expected, atol: 0, rtol: 0, "concat forward")

        let dy = randomTensor(y.shape, seed: 17)
        tape.backward(from: y, gradient: dy)
        XCTAssertNil(seq.grad, "a frozen sequence gets no gradient")
        // dprompt = Σ_b dy[b, 0..<2, :]
        let d = dy.scalars
        let dprompt = (0..<2 * C).map { j in (0..<3).reduce(Float(0)) { $0 + d[$1 * 3 * C + j] } }
        assertClose(prompt.grad!.scalars, dprompt, atol: 1e-6, rtol: 1e-6, "broadcast prompt gradient")
    }

    /// Batches and rows large enough to split across threads match a plain loop.
    func testConcatSequenceParallelMatchesPlainLoop() {
        let B = 4, P = 20, T = 60, C = 320
        let prompt = Variable(randomTensor([1, P, C], seed: 18), requiresGrad: true)
        let seq = Variable(randomTensor([B, T, C], seed: 19), requiresGrad: true)
        let tape = Tape()
        let y = tape.concatSequence([prompt, seq])
        let dy = randomTensor(y.shape, seed: 20)
        tape.backward(from: y, gradient: dy)
        let d = dy.scalars, L = P + T
        var dprompt = [Float](repeating: 0, count: P * C), dseq = [Float](repeating: 0, count: B * T * C)
        for b in 0..<B {
            for j in 0..<P * C { dprompt[j] += d[b * L * C + j] }
            for j in 0..<T * C { dseq[b * T * C + j] = d[b * L * C + P * C + j] }
        }
        assertClose(prompt.grad!.scalars, dprompt, atol: 0, rtol: 0, "prompt gradient")
        assertClose(seq.grad!.scalars, dseq, atol: 0, rtol: 0, "sequence gradient")
    }

    // MARK: - PyTorch

    func testAgainstPyTorch() throws {
        let file = try FixtureFile.load("ops_pointwise")

        let e = try XCTUnwrap(file.named("embedding"))
        let ids = e.tensor("ids")
        let idList = ids.scalars.map { Int32($0) }
        let table = Variable(e.tensor("table"), requiresGrad: true)
        let tape = Tape()
        let y = tape.embedding(table, ids: idList, shape: ids.shape)
        assertClose(y.value, e.tensor("y"), atol: 1e-5, rtol: 1e-4, "embedding y")
        tape.backward(from: y, gradient: e.tensor("R"))
        assertClose(table.grad!, e.tensor("dtable"), atol: 1e-5, rtol: 1e-4, "embedding dtable")
        print("ops_pointwise embedding: max |diff| vs torch y \(maxAbsDiff(y.value, e.tensor("y"))), "
              + "dtable \(maxAbsDiff(table.grad!, e.tensor("dtable")))")

        let e16 = try XCTUnwrap(file.named("embeddingBF16"))
        let table16 = Variable(e16.tensor("table").converted(to: .bf16))
        let y16 = Tape().embedding(table16, ids: e16.tensor("ids").scalars.map { Int32($0) }, shape: ids.shape)
        assertClose(y16.value, e16.tensor("y"), atol: 0, rtol: 0, "bf16 embedding y")

        let c = try XCTUnwrap(file.named("concatSequence"))
        let names = ["prompt", "empty", "seq", "suffix"]
        let parts = names.map { Variable(c.tensor($0), requiresGrad: true, name: $0) }
        let catTape = Tape()
        let cat = catTape.concatSequence(parts)
        assertClose(cat.value, c.tensor("y"), atol: 0, rtol: 0, "concatSequence y")
        catTape.backward(from: cat, gradient: c.tensor("R"))
        var worst: Float = 0
        for (name, part) in zip(names, parts) {
            let grad = part.grad ?? Tensor(zeros: part.shape)
            assertClose(grad, c.tensor("d" + name), atol: 1e-5, rtol: 1e-4, "concatSequence d\(name)")
            worst = max(worst, maxAbsDiff(grad, c.tensor("d" + name)))
        }
        print("ops_pointwise concatSequence: max |diff| vs torch (gradients) \(worst)")
    }
}

/// The largest elementwise |a − b|.
private func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
