import Foundation
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor
import TrimtabTestSupport

/// Mixed-adapter batches: every row of a batch steered by its own adapter (of any kind,
/// or none) computes, row by row, what it computes alone with its adapter.
final class MixedAdapterTests: XCTestCase {
    private let model = TinyModel.make()

    /// Every kind of row a mixed batch can hold; `nil` adapters are base rows. Add a method
    /// here (or to `TinyModel.linearMethods`) and every pair test covers it.
    static let kinds: [(label: String, make: (LanguageModel) throws -> Adapter?)] = ownKinds
        + TinyModel.linearMethods.map { entry in (entry.label, { (model: LanguageModel) throws -> Adapter? in try entry.make(model) }) }

    private static let ownKinds: [(label: String, make: (LanguageModel) throws -> Adapter?)] = [
        ("base", { _ in nil }),
        ("prompt tuning, 3 tokens", { try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 3, seed: 1),
                                                      model: $0, tokenizer: TinyModel.tokenizer) }),
        ("prompt tuning, 5 tokens", { try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 5, seed: 2),
                                                      model: $0, tokenizer: TinyModel.tokenizer) }),
        ("P-tuning, MLP", { try makeAdapter(.pTuning, options: PromptMethodOptions(virtualTokens: 4, encoderHiddenSize: 8, seed: 3),
                                            model: $0, tokenizer: TinyModel.tokenizer) }),
        ("prefix tuning, 2 rows", { try makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 2, seed: 4),
                                                    model: $0, tokenizer: TinyModel.tokenizer) }),
        ("prefix tuning, projection, 4 rows", {
            try makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 4, encoderHiddenSize: 6,
                                                                       prefixProjection: true, seed: 5),
                            model: $0, tokenizer: TinyModel.tokenizer)
        }),
        ("bottleneck, pfeiffer, relu", {
            try BottleneckAdapter(configuration: BottleneckConfiguration(architecture: .pfeiffer, reductionFactor: 4,
                                                                         hiddenSize: $0.hiddenSize, layers: $0.layerCount),
                                  model: $0, seed: 6)
        }),
        ("bottleneck, houlsby, gelu", {
            try BottleneckAdapter(configuration: BottleneckConfiguration(architecture: .houlsby, reductionFactor: 2,
                                                                         nonLinearity: .gelu, hiddenSize: $0.hiddenSize,
                                                                         layers: $0.layerCount),
                                  model: $0, seed: 7)
        }),
    ]

    /// An adapter of kind `index` for `model` (nil for base rows), moved away from its
    /// (possibly identity) initialisation by noise drawn from `seed`, so that it changes
    /// the output.
    static func steered(_ index: Int, _ model: LanguageModel, seed: UInt64) throws -> (label: String, adapter: Adapter?) {
        guard let adapter = try kinds[index].make(model) else { return (kinds[index].label, nil) }
        adapter.isTraining = false
        var rng = SplitMix64(seed: seed)
        for name in adapter.trainableParameters.keys.sorted() {
            guard let p = adapter.trainableParameters[name] else { continue }
            for i in 0..<p.value.count { p.value.floats[i] += 0.3 * rng.nextNormal() }
        }
        return (kinds[index].label, adapter)
    }

    /// One steered adapter of every kind.
    static func adapters(_ model: LanguageModel) throws -> [(label: String, adapter: Adapter?)] {
        try kinds.indices.map { try steered($0, model, seed: UInt64(99 + $0)) }
    }

    private let prompts: [[Int32]] = [[1, 2, 3, 4, 5, 6], [8, 9, 10], [3, 7, 7, 2, 11], [12, 13]]

    /// The logits of `row`'s real tokens (`[count, vocab]`, flattened) in `batch`.
    static func rowLogits(_ model: LanguageModel, _ hooks: ModelHooks?, _ batch: TokenBatch, row: Int) -> [Float] {
        allRowLogits(model, hooks, batch)[row]
    }

    /// The logits of every row's real tokens (`[count, vocab]`, flattened), one forward pass.
    static func allRowLogits(_ model: LanguageModel, _ hooks: ModelHooks?, _ batch: TokenBatch) -> [[Float]] {
        let tape = Tape(recording: false)
        let (hidden, virtualCount) = model.hiddenStates(batch, tape: tape, hooks: hooks, cache: nil)
        let logits = model.logits(hidden, tape: tape).value
        let vocab = model.vocabularySize, width = virtualCount + batch.length
        return (0..<batch.batchSize).map { row in
            let start = (row * width + virtualCount) * vocab
            return Array(UnsafeBufferPointer(start: logits.floats + start, count: batch.validCount(row: row) * vocab))
        }
    }

    /// Checks every row of a mixed batch against the row alone; returns the largest difference.
    @discardableResult
    static func checkRows(_ model: LanguageModel, prompts: [[Int32]], adapters: [(label: String, adapter: Adapter?)],
                          tolerance: Float, file: StaticString = #filePath, line: UInt = #line) -> Float {
        let batch = TokenBatch(rows: prompts)
        let mixed = MixedAdapterHooks(rows: adapters.map(\.adapter))
        var worst: Float = 0
        let all = allRowLogits(model, mixed, batch)
        for (row, prompt) in prompts.enumerated() {
            let together = all[row]
            let alone = rowLogits(model, adapters[row].adapter, TokenBatch(rows: [prompt]), row: 0)
            XCTAssertEqual(together.count, alone.count, file: file, line: line)
            let diff = maxAbsDiff(together, alone)
            worst = max(worst, diff)
            XCTAssertLessThanOrEqual(diff, tolerance, "row \(row) (\(adapters[row].label)) differs from the row alone",
                                     file: file, line: line)
            if adapters[row].adapter != nil {
                let base = rowLogits(model, nil, TokenBatch(rows: [prompt]), row: 0)
                XCTAssertGreaterThan(maxAbsDiff(together, base), 1e-3, "row \(row) (\(adapters[row].label)) is not steered",
                                     file: file, line: line)
            }
        }
        return worst
    }

    /// Every pair of kinds (and a kind with itself, as distinct adapters) in one batch.
    func testEveryPairMatchesRowsAlone() throws {
        var worst: Float = 0
        for i in Self.kinds.indices {
            for j in Self.kinds.indices {
                let a = try Self.steered(i, model, seed: UInt64(10 + i)), b = try Self.steered(j, model, seed: UInt64(50 + j))
                let rows = [a, (b.label + " (2nd)", b.adapter), a, (b.label + " (2nd)", b.adapter)]
                worst = max(worst, Self.checkRows(model, prompts: prompts, adapters: rows, tolerance: 1e-5))
            }
        }
        print("mixed pairs: max |Δlogit| vs rows alone \(worst)")
    }

    /// All kinds at once, each row with a different prompt length.
    func testAllKindsInOneBatch() throws {
        let adapters = try Self.adapters(model)
        let prompts = adapters.indices.map { i in (0..<(2 + i % 4)).map { Int32(1 + (i * 3 + $0) % 19) } }
        let diff = Self.checkRows(model, prompts: prompts, adapters: adapters, tolerance: 1e-5)
        print("all kinds in one batch: max |Δlogit| \(diff)")
    }

    /// One adapter on every row is the adapter itself; no adapter anywhere is the base.
    func testUniformAssignments() throws {
        let adapters = try Self.adapters(model)
        let batch = TokenBatch(rows: prompts)
        for (label, adapter) in adapters {
            let mixed = MixedAdapterHooks(rows: prompts.map { _ in adapter })
            for row in prompts.indices {
                XCTAssertEqual(Self.rowLogits(model, mixed, batch, row: row), Self.rowLogits(model, adapter, batch, row: row),
                               label)
            }
        }
    }

    /// Greedy generation of a mixed batch (KV cache, per-row virtual tokens and prefixes)
    /// gives each row the tokens it gets alone.
    func testMixedGenerationMatchesRowsAlone() throws {
        let adapters = try Self.adapters(model)
        let prompts = adapters.indices.map { i in (0..<(1 + i % 3)).map { Int32(2 + (i * 5 + $0) % 17) } }
        let generator = Generator(model: model)
        let together = generator.generate(prompts: prompts, maxTokens: 7, stopTokens: [0],
                                          hooks: MixedAdapterHooks(rows: adapters.map(\.adapter)))
        for (row, prompt) in prompts.enumerated() {
            let alone = generator.generate(prompt: prompt, maxTokens: 7, stopTokens: [0], hooks: adapters[row].adapter)
            XCTAssertEqual(together[row].tokens, alone.tokens, adapters[row].label)
            XCTAssertEqual(together[row].finishReason, alone.finishReason, adapters[row].label)
        }
    }

    /// Gradients flow through the gathers to each adapter's own parameters.
    func testGradientsReachEveryAdapter() throws {
        let adapters = try Self.adapters(model).filter { $0.adapter != nil }
        let batch = TokenBatch(rows: adapters.indices.map { i in [1, 2, Int32(3 + i)] })
        let tape = Tape()
        let (hidden, v) = model.hiddenStates(batch, tape: tape, hooks: MixedAdapterHooks(rows: adapters.map(\.adapter)),
                                             cache: nil)
        let loss = tape.crossEntropy(model.logits(hidden, tape: tape), targets: Training.targets(batch, virtualCount: v))
        tape.backward(from: loss)
        for (label, adapter) in adapters {
            for (name, p) in adapter?.trainableParameters ?? [:] {
                let norm = p.grad?.scalars.reduce(0) { $0 + $1 * $1 } ?? 0
                XCTAssertGreaterThan(norm, 0, "\(label): no gradient reached \(name)")
            }
        }
    }
}

/// The largest elementwise |a − b| (infinity when the lengths differ).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
