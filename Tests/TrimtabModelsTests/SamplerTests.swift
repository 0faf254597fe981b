import XCTest
import TrimtabModels

/// The sampler's processors, in transformers' order: repetition penalty, temperature,
/// top-k, top-p.
final class SamplerTests: XCTestCase {
    private func draw(_ logits: [Float], _ parameters: SamplingParameters, history: [Int32] = [],
                      count: Int = 2000) -> [Int32: Int] {
        var sampler = Sampler(parameters)
        var counts: [Int32: Int] = [:]
        logits.withUnsafeBufferPointer { p in
            for _ in 0..<count {
                counts[sampler.sample(p.baseAddress!, vocab: logits.count, history: history), default: 0] += 1
            }
        }
        return counts
    }

    func testGreedyPicksTheLargestLogit() {
        XCTAssertEqual(draw([0.1, 3, -2, 2.9], .greedy, count: 5), [1: 5])
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        // Token 1 (logit 3, seen) becomes 3 / 2 = 1.5 < 2.9: greedy moves to token 3.
        XCTAssertEqual(draw([0.1, 3, -2, 2.9], SamplingParameters(repetitionPenalty: 2), history: [1], count: 3), [3: 3])
        // A negative seen logit gets more negative: -0.5 · 4 = -2 < -1.
        XCTAssertEqual(draw([-0.5, -1], SamplingParameters(repetitionPenalty: 4), history: [0], count: 3), [1: 3])
    }

    func testTopKKeepsOnlyTheKMostLikely() {
        let counts = draw([1, 5, 4, 0, 4.5], SamplingParameters(temperature: 1, topK: 2, seed: 3))
        XCTAssertEqual(Set(counts.keys), [1, 4])
    }

    func testTopPKeepsTheSmallestNucleus() {
        // Probabilities ≈ [0.665, 0.245, 0.090]: top-p 0.7 keeps the first two.
        let logits: [Float] = [2, 1, 0]
        let counts = draw(logits, SamplingParameters(temperature: 1, topP: 0.7, seed: 4))
        XCTAssertEqual(Set(counts.keys), [0, 1])
        // Renormalised: 0.665 / 0.910 ≈ 0.731.
        XCTAssertEqual(Double(counts[0] ?? 0) / 2000, 0.731, accuracy: 0.04)
    }

    func testTemperatureSharpensAndFlattens() {
        let logits: [Float] = [1, 0]
        let cold = draw(logits, SamplingParameters(temperature: 0.25, seed: 5))
        let hot = draw(logits, SamplingParameters(temperature: 4, seed: 5))
        // p(0) = sigmoid(1 / T): 0.982 at T = 0.25, 0.562 at T = 4.
        XCTAssertEqual(Double(cold[0] ?? 0) / 2000, 0.982, accuracy: 0.02)
        XCTAssertEqual(Double(hot[0] ?? 0) / 2000, 0.562, accuracy: 0.04)
    }

    func testSeedFixesTheSequence() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        func sequence(_ seed: UInt64) -> [Int32] {
            var sampler = Sampler(SamplingParameters(temperature: 1, seed: seed))
            return logits.withUnsafeBufferPointer { p in (0..<20).map { _ in sampler.sample(p.baseAddress!, vocab: 50, history: []) } }
        }
        XCTAssertEqual(sequence(9), sequence(9))
        XCTAssertNotEqual(sequence(9), sequence(10))
    }
}
