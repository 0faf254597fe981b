import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// Softmax cross-entropy with ignored positions and per-token log-probabilities: values
/// and gradients against PyTorch (`scripts/reference/ops_norm.py`), finite differences,
/// and a plain Double reference.
final class LossOpTests: XCTestCase {
    func testCrossEntropyMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_norm")
        for name in ["cross_entropy", "cross_entropy_all_counted"] {
            let c = try XCTUnwrap(fixtures.named(name), name)
            let targets = c.ints("targets").map { Int32($0) }
            let logits = Variable(c.tensor("logits"), requiresGrad: true)
            let tape = Tape()
            let loss = tape.crossEntropy(logits, targets: targets, ignoreIndex: Int32(c.int("ignoreIndex")))
            XCTAssertEqual(loss.shape, [])
            assertClose(loss.value, c.tensor("loss"), name + " loss")
            tape.backward(from: loss)
            assertClose(try XCTUnwrap(logits.grad), c.tensor("dlogits"), name + " dlogits")

            let rows = logits.shape[0], vocab = logits.shape[1]
            let logp = CrossEntropy.tokenLogProbabilities(logits: logits.value.floats, targets: targets,
                                                          rows: rows, vocab: vocab)
            assertClose(logp, c.tensor("tokenLogProbabilities").scalars, name + " token log-probabilities")
        }
    }

    func testCrossEntropyGradients() {
        let logits = Variable(randomTensor([6, 9], seed: 1, scale: 2), requiresGrad: true)
        checkGradients("crossEntropy", inputs: [logits]) { $0.crossEntropy(logits, targets: [0, 8, 3, 3, 5, 1]) }
        checkGradients("crossEntropy, some ignored", inputs: [logits]) {
            $0.crossEntropy(logits, targets: [-100, 8, 3, -100, 5, -100])
        }
        checkGradients("crossEntropy, custom ignoreIndex", inputs: [logits]) {
            $0.crossEntropy(logits, targets: [7, 7, 2, 0, 7, 1], ignoreIndex: 7)
        }
        let row = Variable(randomTensor([1, 9], seed: 2), requiresGrad: true)
        checkGradients("crossEntropy, one row", inputs: [row]) { $0.crossEntropy(row, targets: [4]) }
        let batched = Variable(randomTensor([2, 3, 5], seed: 3), requiresGrad: true)
        checkGradients("crossEntropy, [B, T, V] logits", inputs: [batched]) {
            $0.crossEntropy(batched, targets: [1, 2, -100, 4, 0, 0])
        }
    }

    /// With every position ignored the loss is 0 and the gradient is zero (PyTorch's mean
    /// reduction would give NaN).
    func testCrossEntropyAllIgnored() {
        let logits = Variable(randomTensor([3, 5], seed: 4), requiresGrad: true)
        let tape = Tape()
        let loss = tape.crossEntropy(logits, targets: [-100, -100, -100])
        XCTAssertEqual(loss.value.scalars, [0])
        tape.backward(from: loss)
        XCTAssertEqual(logits.grad?.scalars ?? [1], [Float](repeating: 0, count: 15))
        checkGradients("crossEntropy, all ignored", inputs: [logits]) { $0.crossEntropy(logits, targets: [-100, -100, -100]) }
        XCTAssertEqual(CrossEntropy.tokenLogProbabilities(logits: logits.value.floats, targets: [-100, -100, -100],
                                                          rows: 3, vocab: 5), [0, 0, 0])
    }

    /// Logits of ±1e4 give a finite loss, and offsetting each row by ±1e4 changes neither
    /// the loss nor the gradient (the saved max and sum keep the probabilities exact).
    func testCrossEntropyLargeLogits() {
        let extreme = Variable(try! Tensor(shape: [2, 3], values: [1e4, -1e4, 0, -1e4, -1e4, -1e4 + 1]),
                               requiresGrad: true)
        let tape = Tape()
        let loss = tape.crossEntropy(extreme, targets: [1, 2])
        // Row 0: −log p(−1e4) = 2e4. Row 1: −log(e / (2 + e)) = log(2 + e) − 1.
        assertClose(loss.value.scalars, [Float((2e4 + Foundation.log(2 + M_E) - 1) / 2)], "extreme loss")
        tape.backward(from: loss)
        XCTAssertTrue(extreme.grad?.scalars.allSatisfy { $0.isFinite } ?? false)

        let (rows, vocab) = (4, 37)
        let small = randomTensor([rows, vocab], seed: 5, scale: 4)
        for i in 0..<small.count { small.floats[i] = (small.floats[i] * 64).rounded() / 64 }
        let shifted = small.copy()
        for i in 0..<shifted.count { shifted.floats[i] += (i / vocab) % 2 == 0 ? 1e4 : -1e4 }
        let targets: [Int32] = [3, -100, 36, 0]
        var results: [[Float]] = []
        for input in [small, shifted] {
            let logits = Variable(input, requiresGrad: true)
            let tape = Tape()
            let loss = tape.crossEntropy(logits, targets: targets)
            tape.backward(from: loss)
            results.append(loss.value.scalars + (logits.grad?.scalars ?? []))
        }
        assertClose(results[1], results[0], "loss and dlogits of shifted logits")
    }

    /// A vocabulary wide enough for the vectorised loops, and enough rows to split
    /// across threads, against a Double log-softmax.
    func testTokenLogProbabilitiesMatchDoubleReference() {
        let (rows, vocab) = (24, 1003)
        let logits = randomTensor([rows, vocab], seed: 6, scale: 5)
        var rng = SplitMix64(seed: 7)
        let targets: [Int32] = (0..<rows).map { r in r % 5 == 4 ? -100 : Int32(rng.next() % UInt64(vocab)) }
        let logp = CrossEntropy.tokenLogProbabilities(logits: logits.floats, targets: targets, rows: rows, vocab: vocab)
        let values = logits.scalars.map(Double.init)
        var expected = [Float]()
        var lossSum = 0.0, counted = 0
        for r in 0..<rows {
            guard targets[r] != -100 else { expected.append(0); continue }
            let row = values[r * vocab ..< (r + 1) * vocab]
            let m = row.max() ?? 0
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            expected.append(Float(row[r * vocab + Int(targets[r])] - lse))
            lossSum -= row[r * vocab + Int(targets[r])] - lse
            counted += 1
        }
        assertClose(logp, expected, "token log-probabilities")
        let loss = Tape(recording: false).crossEntropy(Variable(logits), targets: targets)
        assertClose(loss.value.scalars, [Float(lossSum / Double(counted))], "mean loss")
    }

    /// The gradient seed scales the logits' gradient (dloss ≠ 1), and backward accumulates.
    func testCrossEntropyGradientScalesAndAccumulates() {
        let logits = Variable(randomTensor([3, 10], seed: 8), requiresGrad: true)
        let targets: [Int32] = [1, -100, 9]
        var tape = Tape()
        tape.backward(from: tape.crossEntropy(logits, targets: targets))
        let unit = logits.grad?.scalars ?? []
        logits.zeroGrad()
        tape = Tape()
        let loss = tape.crossEntropy(logits, targets: targets)
        tape.backward(from: loss, gradient: Tensor(scalar: 2.5))
        tape = Tape()
        tape.backward(from: tape.crossEntropy(logits, targets: targets))
        assertClose(logits.grad?.scalars ?? [], unit.map { 3.5 * $0 }, "2.5 · grad + grad")
        // The ignored row gets no gradient at all.
        XCTAssertEqual(Array((logits.grad?.scalars ?? [])[10..<20]), [Float](repeating: 0, count: 10))
    }

    /// The chunked projection + loss equals `linear` then `crossEntropy`: same loss, same
    /// input gradient, for every chunk size (one row, uneven, all rows), with ignored rows,
    /// an upstream gradient other than 1, and a bf16 weight.
    func testLinearCrossEntropyMatchesUnfused() {
        let targets: [Int32] = [3, -100, 10, 0, 7, -100, 12]
        for weightType in [DType.f32, .bf16] {
            let weight = Variable(randomTensor([13, 6], seed: 7).converted(to: weightType))
            for chunk in [1, 3, 7, 64] {
                let label = "\(weightType) chunk \(chunk)"
                let x1 = Variable(randomTensor([7, 6], seed: 8, scale: 2), requiresGrad: true)
                let x2 = Variable(x1.value.copy(), requiresGrad: true)
                let seed = Tensor(scalar: -2.5)
                let unfused = Tape()
                let reference = unfused.crossEntropy(unfused.linear(x1, weight), targets: targets)
                unfused.backward(from: reference, gradient: seed)
                let fused = Tape()
                let loss = fused.linearCrossEntropy(x2, weight, targets: targets, chunk: chunk)
                fused.backward(from: loss, gradient: seed)
                assertClose(loss.value.scalars, reference.value.scalars, label + " loss")
                // With a bf16 weight both round the logits' gradient to bf16 before the
                // product, the unfused op after scaling by the upstream -2.5 and the
                // fused one before: they agree to bf16's precision, not bit for bit.
                let bf16 = weightType == .bf16
                assertClose(x2.grad!.scalars, x1.grad!.scalars, atol: bf16 ? 1e-2 : 1e-5, rtol: bf16 ? 1e-2 : 1e-4,
                            label + " dx")
            }
        }
        let x = Variable(randomTensor([2, 6], seed: 9), requiresGrad: true)
        let tape = Tape()
        let none = tape.linearCrossEntropy(x, Variable(randomTensor([13, 6], seed: 7)), targets: [-100, -100])
        XCTAssertEqual(none.value.scalars, [0])
        tape.backward(from: none)
        XCTAssertEqual(x.grad?.scalars ?? [0, 0], [Float](repeating: 0, count: x.grad?.count ?? 2))
    }
}
