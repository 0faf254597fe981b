import TrimtabModels
import TrimtabTensor
import XCTest

/// Rows that join, leave and get compacted in a shared KV cache compute what they compute alone.
final class KVCacheRowTests: XCTestCase {
    static let configuration = LlamaConfiguration(vocabularySize: 50, hiddenSize: 16, intermediateSize: 32, layerCount: 2,
                                                  headCount: 4, kvHeadCount: 2, ropeTheta: 10_000)

    func testRowsJoiningLeavingAndCompactingMatchAlone() throws {
        let weights = LlamaModel.randomWeights(Self.configuration, seed: 3)
        for (_, t) in weights where t.rank == 2 { for i in 0..<t.count { t.floats[i] *= 20 } }
        let model = try LlamaModel(configuration: Self.configuration, weights: weights, source: "random")
        let vocab = model.vocabularySize
        let prompts: [[Int32]] = [[1, 2, 3, 4, 5], [7], [9, 8, 7, 6, 5, 4, 3, 2, 1], [11, 12]]
        let steps = 8
        // Alone: greedy tokens and each step's logits (index 0 = the prefill's last position).
        var aloneTokens: [[Int32]] = [], aloneLogits: [[[Float]]] = []
        for prompt in prompts {
            let tape = Tape(recording: false)
            let cache = model.makeCache(batchSize: 1, capacity: 32)
            var (hidden, _) = model.hiddenStates(TokenBatch(rows: [prompt]), tape: tape, hooks: nil, cache: cache)
            var tokens: [Int32] = [], logits: [[Float]] = []
            for _ in 0...steps {
                let out = model.logits(hidden, tape: tape).value
                let last = Array(UnsafeBufferPointer(start: out.floats + (out.count / vocab - 1) * vocab, count: vocab))
                logits.append(last)
                let next = Int32(last.indices.max { last[$0] < last[$1] }!)
                tokens.append(next)
                (hidden, _) = model.hiddenStates(TokenBatch(rows: [[next]]), tape: tape, hooks: nil, cache: cache)
            }
            aloneTokens.append(tokens)
            aloneLogits.append(logits)
        }

        // Batched: rows join at different steps, one leaves from the middle, the cache compacts.
        let batched = model.makeCache(batchSize: 3, capacity: 24)
        batched.removeAllRows()
        var rows: [(sequence: Int, step: Int)] = []
        var worst: Float = 0
        func join(_ s: Int) {
            let tape = Tape(recording: false)
            let single = model.makeCache(batchSize: 1, capacity: 24)
            _ = model.hiddenStates(TokenBatch(rows: [prompts[s]]), tape: tape, hooks: nil, cache: single)
            batched.appendRow(from: single)
            rows.append((s, 0))
        }
        func step() {
            if batched.remaining < 1 { batched.compact() }
            let tape = Tape(recording: false)
            let ids = rows.map { aloneTokens[$0.sequence][$0.step] }
            let (hidden, _) = model.hiddenStates(TokenBatch(batchSize: rows.count, length: 1, ids: ids), tape: tape,
                                                 hooks: nil, cache: batched)
            let out = model.logits(hidden, tape: tape).value
            for r in rows.indices {
                rows[r].step += 1
                let expected = aloneLogits[rows[r].sequence][rows[r].step]
                for v in 0..<vocab { worst = max(worst, abs(out.floats[r * vocab + v] - expected[v])) }
            }
        }
        join(0); step(); step()
        join(1); step()
        join(2); step(); step()
        batched.removeRow(0)  // sequence 0 leaves; sequence 2 moves into row 0
        rows[0] = rows.removeLast()
        join(3)
        for _ in 0..<3 { step() }
        XCTAssertEqual(rows.map(\.sequence), [2, 1, 3])
        batched.removeRow(0)  // sequence 2, the longest, leaves; the others have gaps
        rows[0] = rows.removeLast()
        let before = batched.length
        batched.compact()
        XCTAssertLessThan(batched.length, before)
        step(); step()
        XCTAssertEqual(rows.map(\.sequence), [3, 1])
        print("max |Δlogit| batched rows vs alone: \(worst)")
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertGreaterThan(aloneLogits[0][1].max()! - aloneLogits[0][1].min()!, 1, "logits should be informative")
    }
}
