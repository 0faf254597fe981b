import XCTest
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabTestSupport
@testable import TrimtabTrain

/// Several adapters (and the base model) evaluated together in mixed batches report what
/// each reports alone.
final class MixedEvaluatorTests: XCTestCase {
    func testMixedEvaluationEqualsEachAlone() throws {
        let model = try TinySetup.model()
        let tok = try TinySetup.tokenizer()
        let prompt = try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 3, seed: 2), model: model,
                                     tokenizer: tok)
        let prefix = try makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 2, seed: 3), model: model,
                                     tokenizer: tok)
        let bottleneck = try makeAdapter(.adapter, options: MethodOptions(bottleneck: BottleneckOptions(reductionFactor: 4)),
                                         model: model, tokenizer: tok)
        perturb(bottleneck.trainableParameters, scale: 0.3, seed: 5)
        let adapters: [Adapter?] = [prompt, nil, prefix, bottleneck]
        for adapter in adapters { adapter?.isTraining = false }

        let classification = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 14), source: "toy.jsonl")
        let classify = try TaskFormat.infer(from: classification, template: "Review: {text}\nSentiment:")
        let text = try JSONLDataset(examples: (0..<9).map { .text("the cat sat on a mat number \($0 % 4)") },
                                    source: "text.jsonl")
        for (data, task) in [(classification, classify), (text, try TaskFormat.infer(from: text))] {
            let encoder = try ExampleEncoder(tokenizer: tok, task: task, maxSequenceLength: 64)
            let mixed = try MixedEvaluator(model: model, entries: adapters.map { .init(adapter: $0, encoder: encoder) },
                                           batchSize: 5).evaluate(data)
            XCTAssertEqual(mixed.count, adapters.count)
            for (adapter, together) in zip(adapters, mixed) {
                let alone = try Evaluator(model: model, encoder: encoder, hooks: adapter, batchSize: 5).evaluate(data)
                XCTAssertEqual(together.accuracy, alone.accuracy, "\(adapter?.peftType ?? "base") on \(data.source)")
                XCTAssertEqual(together.confusion, alone.confusion)
                XCTAssertEqual(together.loss, alone.loss, accuracy: 1e-5, "\(adapter?.peftType ?? "base") on \(data.source)")
                XCTAssertEqual(together.tokens, alone.tokens)
            }
            XCTAssertNotEqual(mixed[0].loss, mixed[1].loss, accuracy: 1e-4, "the adapters change the loss")
        }
    }
}
