import XCTest
import TrimtabTensor
@testable import TrimtabTrain

final class BatchingTests: XCTestCase {
    func testLengthGroupingCoversEveryExampleOnceAndPadsLess() {
        var rng = SplitMix64(seed: 11)
        let lengths = (0..<1000).map { _ in 5 + Int(rng.next() % 200) }
        let sampler = LengthGroupedSampler(lengths: lengths, batchSize: 8, seed: 42, bucketBatches: 20)
        let epoch0 = sampler.batches(epoch: 0)
        XCTAssertEqual(epoch0.count, 125)
        XCTAssertEqual(sampler.batchesPerEpoch, 125)
        XCTAssertEqual(epoch0.flatMap { $0 }.sorted(), Array(0..<1000))
        XCTAssertEqual(sampler.batches(epoch: 0), epoch0, "the order is a function of seed and epoch")
        XCTAssertNotEqual(sampler.batches(epoch: 1), epoch0)
        XCTAssertNotEqual(LengthGroupedSampler(lengths: lengths, batchSize: 8, seed: 43).batches(epoch: 0), epoch0)

        func padding(_ batches: [[Int]]) -> Int {
            batches.reduce(0) { total, b in
                let longest = b.map { lengths[$0] }.max()!
                return total + b.reduce(0) { $0 + longest - lengths[$1] }
            }
        }
        let ungrouped = LengthGroupedSampler(lengths: lengths, batchSize: 8, seed: 42, bucketBatches: 1).batches(epoch: 0)
        XCTAssertLessThan(padding(epoch0) * 5, padding(ungrouped), "grouped \(padding(epoch0)) vs \(padding(ungrouped))")
        // Batches of similar length are not simply sorted: the first batches differ in length.
        XCTAssertGreaterThan(Set(epoch0.prefix(10).map { lengths[$0[0]] / 20 }).count, 2)

        let eval = LengthGroupedSampler.evaluationBatches(lengths: lengths, batchSize: 64)
        XCTAssertEqual(eval.flatMap { $0 }.sorted(), Array(0..<1000))
        XCTAssertEqual(eval.first.map { lengths[$0[0]] }, lengths.max())
    }

    func testPaddingNeverCarriesLoss() {
        let a = EncodedExample(ids: [5, 6, 7, 8], lossMask: [0, 0, 1, 1])
        let b = EncodedExample(ids: [9, 10], lossMask: [0, 1])
        let batch = TrainingBatch([a, b], padId: 3)
        XCTAssertEqual(batch.tokens.ids, [5, 6, 7, 8, 9, 10, 3, 3])
        XCTAssertEqual(batch.tokens.mask, [1, 1, 1, 1, 1, 1, 0, 0])
        XCTAssertEqual(batch.targets, [7, 8, 10])
        XCTAssertEqual(batch.targetRows, [0, 0, 1])
        XCTAssertEqual(batch.targetPositions, [2, 3, 1])
        XCTAssertEqual(batch.targetCount, 3)
        XCTAssertEqual(batch.tokenCount, 6)
        // Without virtual tokens position t − 1 predicts token t; with V of them every row shifts by V.
        XCTAssertEqual(batch.sourceRows(virtualCount: 0), [1, 2, 4])
        XCTAssertEqual(batch.sourceRows(virtualCount: 3), [4, 5, 10], "rows of width 7: 0·7+3+1, 0·7+3+2, 1·7+3+0")
    }
}
