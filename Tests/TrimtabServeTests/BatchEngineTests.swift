import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import XCTest
@testable import TrimtabServe

/// The engine without HTTP: rows joining and leaving a running batch give each job the
/// tokens it gets alone.
final class BatchEngineTests: XCTestCase {
    func testMixedAdaptersJoiningMidRunMatchGeneratingAlone() async throws {
        let tokenizer = try ServeFixture.tokenizer()
        let model = try ServeFixture.model()
        let directory = try ServeFixture.temporaryDirectory()
        try ServeFixture.writeAdapters(to: directory, model: model, tokenizer: tokenizer)
        let registry = AdapterRegistry(directory: directory, model: model)
        let names: [String?] = [nil] + ServeFixture.adapterNames
        let engine = BatchEngine(model: model, configuration: EngineConfiguration(maxBatch: 4, maxQueue: 64,
                                                                                  contextLength: 48))
        engine.start()
        let prompts = ["the cat", "a dog ran far away", "hello", "good film", "what is it", "x", "review: bad movie",
                       "on the mat"]
        var jobs: [(GenerationJob, [Int32])] = []
        for i in 0..<24 {
            let name = names[i % names.count]
            let adapter = try name.map { try registry.entry($0).adapter }
            let prompt = tokenizer.encode(prompts[i % prompts.count], addSpecialTokens: true)
            let maxTokens = 3 + (i * 5) % 17
            let expected = ServeFixture.alone(model, prompt: prompt, adapter: adapter, maxTokens: maxTokens, stops: [])
            jobs.append((GenerationJob(prompt: prompt, adapter: adapter, maxTokens: maxTokens), expected))
        }
        // Tokens of different adapters really differ (else the test could not fail).
        XCTAssertGreaterThan(Set(jobs.prefix(names.count).map { $0.1 }).count, names.count / 2)
        let results = try await withThrowingTaskGroup(of: (Int, [Int32], FinishReason?).self) { group in
            for (i, job) in jobs.enumerated() {
                let stream = try engine.submit(job.0)
                group.addTask {
                    var tokens: [Int32] = []
                    var reason: FinishReason?
                    for await event in stream {
                        switch event {
                        case let .token(t): tokens.append(t)
                        case let .finished(r, prompt, completion):
                            reason = r
                            XCTAssertEqual(prompt, job.0.prompt.count)
                            XCTAssertEqual(completion, tokens.count)
                        }
                    }
                    return (i, tokens, reason)
                }
            }
            var out: [(Int, [Int32], FinishReason?)] = []
            for try await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        for (i, tokens, reason) in results {
            XCTAssertEqual(tokens, jobs[i].1, "job \(i) (\(names[i % names.count] ?? "base"))")
            XCTAssertEqual(reason, .length)
        }
        await engine.shutdown()
    }

    func testContextFullCompactsAndKeepsTokens() async throws {
        // A context of 24 positions with rows joining late forces compaction.
        let tokenizer = try ServeFixture.tokenizer()
        let model = try ServeFixture.model()
        let engine = BatchEngine(model: model, configuration: EngineConfiguration(maxBatch: 3, maxQueue: 8,
                                                                                  contextLength: 24))
        engine.start()
        let prompts = ["the cat sat on", "a", "good film review", "dog"]
        var streams: [AsyncStream<GenerationEvent>] = []
        var expected: [[Int32]] = []
        for (i, text) in prompts.enumerated() {
            let prompt = tokenizer.encode(text, addSpecialTokens: true)
            let maxTokens = 24 - prompt.count - i
            expected.append(ServeFixture.alone(model, prompt: prompt, adapter: nil, maxTokens: maxTokens, stops: []))
            streams.append(try engine.submit(GenerationJob(prompt: prompt, adapter: nil, maxTokens: maxTokens)))
        }
        for (i, stream) in streams.enumerated() {
            var tokens: [Int32] = []
            for await case let .token(t) in stream { tokens.append(t) }
            XCTAssertEqual(tokens, expected[i], "row \(i)")
        }
        await engine.shutdown()
    }

    func testDroppedStreamFreesItsRow() async throws {
        let tokenizer = try ServeFixture.tokenizer()
        let model = try ServeFixture.model()
        let engine = BatchEngine(model: model, configuration: EngineConfiguration(maxBatch: 1, maxQueue: 4,
                                                                                  contextLength: 512))
        engine.start()
        let prompt = tokenizer.encode("the cat", addSpecialTokens: true)
        do {
            let stream = try engine.submit(GenerationJob(prompt: prompt, adapter: nil, maxTokens: 400))
            for await case .token in stream { break }
        }
        // The only row is free again: a second job runs to its end.
        let second = try engine.submit(GenerationJob(prompt: prompt, adapter: nil, maxTokens: 2))
        var count = 0
        for await case .token in second { count += 1 }
        XCTAssertEqual(count, 2)
        await engine.shutdown()
        XCTAssertThrowsError(try engine.submit(GenerationJob(prompt: prompt, adapter: nil, maxTokens: 2))) {
            XCTAssertEqual($0 as? EngineError, .shuttingDown)
        }
    }

    func testQueueLimit() throws {
        let model = try ServeFixture.model()
        // Not started: jobs stay queued.
        let engine = BatchEngine(model: model, configuration: EngineConfiguration(maxBatch: 2, maxQueue: 2,
                                                                                  contextLength: 32))
        let job = GenerationJob(prompt: [5, 6], adapter: nil, maxTokens: 2)
        let kept = [try engine.submit(job), try engine.submit(job)]
        XCTAssertThrowsError(try engine.submit(job)) { XCTAssertEqual($0 as? EngineError, .queueFull(limit: 2)) }
        XCTAssertEqual(engine.load.queued, kept.count)
    }

    func testAdapterNames() {
        for good in ["soft-2", "a", "A.b_c-9", "v1.0"] { XCTAssertNil(AdapterName.problem(good), good) }
        for bad in ["", "../x", "..", "a/b", "/etc", ".hidden", "a..b", "a b", "a\\b", "é", String(repeating: "a", count: 129),
                    "-x", "x\u{0}"] {
            XCTAssertNotNil(AdapterName.problem(bad), bad)
        }
    }
}
