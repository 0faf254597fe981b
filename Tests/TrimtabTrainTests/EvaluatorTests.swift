import XCTest
import TrimtabModels
import TrimtabTensor
import TrimtabText
@testable import TrimtabTrain

final class EvaluatorTests: XCTestCase {
    /// Log-softmax of every position of one row, by brute force over the full logits (Double).
    func fullLogSoftmax(_ model: LanguageModel, _ ids: [Int32], hooks: ModelHooks?) -> (rows: [[Double]], virtual: Int) {
        let tape = Tape(recording: false)
        let (hidden, v) = model.hiddenStates(TokenBatch(rows: [ids]), tape: tape, hooks: hooks, cache: nil)
        let n = v + ids.count, vocab = model.vocabularySize
        let logits = model.logits(tape.reshape(hidden, [n, model.hiddenSize]), tape: tape).value.scalars
        let rows = (0..<n).map { r -> [Double] in
            let row = logits[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return row.map { $0 - lse }
        }
        return (rows, v)
    }

    func sentiment(words: [String: String]) throws -> (ExampleEncoder, JSONLDataset) {
        let tok = try TinySetup.tokenizer()
        let data = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 12), source: "toy.jsonl")
        let task = try TaskFormat.infer(from: data, template: "Review: {text}\nSentiment:",
                                        labelWords: words.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return (try ExampleEncoder(tokenizer: tok, task: task, maxSequenceLength: 64), data)
    }

    /// Rank classification (the one-forward path for one-token words and the row-per-label
    /// path for longer words) against scoring every (input, label word) by brute force.
    func testRankClassificationMatchesBruteForce() throws {
        let model = try TinySetup.model()
        let adapter = SoftPrompt(virtualTokens: 2, hiddenSize: 32)
        for words in [["positive": " positive", "negative": " negative"], ["positive": " great movie", "negative": " the lazy dog"]] {
            let (encoder, data) = try sentiment(words: words)
            let single = encoder.labelTokens.allSatisfy { $0.count == 1 }
            XCTAssertEqual(single, words["positive"] == " positive", "label word token counts \(encoder.labelTokens)")
            var expected: [[Float]] = [], correct = 0, nll = 0.0, tokens = 0
            for case let .classification(text, label) in data.examples {
                let prompt = try encoder.classificationPrompt(text).ids
                let scores = encoder.labelTokens.map { word -> Double in
                    let (rows, v) = fullLogSoftmax(model, prompt + word, hooks: adapter)
                    return word.indices.reduce(0.0) { $0 + rows[v + prompt.count + $1 - 1][Int(word[$1])] }
                }
                expected.append(scores.map(Float.init))
                let gold = encoder.task.classification!.labels.firstIndex(of: label)!
                if scores.indices.max(by: { scores[$0] < scores[$1] }) == gold { correct += 1 }
                nll -= scores[gold]
                tokens += encoder.labelTokens[gold].count
            }
            let evaluator = Evaluator(model: model, encoder: encoder, hooks: adapter, batchSize: 5)
            let prompts = try data.examples.map { e -> [Int32] in
                guard case let .classification(text, _) = e else { return [] }
                return try encoder.classificationPrompt(text).ids
            }
            let scores = evaluator.labelScores(prompts)
            assertClose(scores.flatMap { $0 }, expected.flatMap { $0 }, atol: 1e-4, rtol: 1e-5, "label scores (\(single ? "one token" : "several"))")
            let result = try evaluator.evaluate(data)
            XCTAssertEqual(result.accuracy, Double(correct) / Double(data.count))
            XCTAssertEqual(result.loss, nll / Double(tokens), accuracy: 1e-5)
            XCTAssertEqual(result.tokens, tokens)
            XCTAssertEqual(result.confusion?.flatMap { $0 }.reduce(0, +), data.count)
            XCTAssertEqual(result.confusion.map { m in m.indices.reduce(0) { $0 + m[$1][$1] } }, correct)
            XCTAssertEqual(result.primaryMetric.name, "accuracy")
        }
    }

    func testPerplexityMatchesBruteForce() throws {
        let model = try TinySetup.model()
        let tok = try TinySetup.tokenizer()
        let texts = ["The quick brown fox jumps over the lazy dog.", "hello how are you", "What is two plus two? four"]
        let data = try JSONLDataset(examples: texts.map { .text($0) })
        let encoder = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .text), maxSequenceLength: 64)
        var nll = 0.0, count = 0
        for e in try encoder.encode(data) {
            let (rows, _) = fullLogSoftmax(model, e.ids, hooks: nil)
            for t in 1..<e.count where e.lossMask[t] == 1 {
                nll -= rows[t - 1][Int(e.ids[t])]
                count += 1
            }
        }
        let result = try Evaluator(model: model, encoder: encoder, hooks: nil, batchSize: 2).evaluate(data)
        XCTAssertEqual(result.tokens, count)
        XCTAssertEqual(result.loss, nll / Double(count), accuracy: 1e-5)
        XCTAssertEqual(result.perplexity, exp(nll / Double(count)), accuracy: 1e-5 * exp(nll / Double(count)))
        XCTAssertNil(result.accuracy)
        XCTAssertEqual(result.primaryMetric.name, "loss")
    }

    /// Exact match: completions equal to the brute-force greedy continuation match, others do not.
    func testExactMatchAgainstBruteForceGreedy() throws {
        let model = try TinySetup.model()
        let adapter = SoftPrompt(virtualTokens: 2, hiddenSize: 32)
        var tok = try TinySetup.tokenizer()
        tok.eosId = nil  // generation then runs exactly as many tokens as the completion has
        let encoder = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .promptCompletion), maxSequenceLength: 64)
        // Random weights generate arbitrary tokens; keep prompts whose greedy continuation
        // starts with k ≥ 1 tokens that decode and re-encode to themselves (so the reference
        // completion has as many tokens as generation will produce).
        var examples: [Example] = []
        let prompts = ["What is two plus two?", "hello how are you", "The quick brown fox", "Review: a great movie",
                       "I am fine", "the lazy dog", "good bad great awful", "thank you", "user assistant", "blue sky"]
        for prompt in prompts where examples.count < 2 {
            var ids = encoder.promptIds(prompt)
            let start = ids.count
            for _ in 0..<4 {
                let (rows, v) = fullLogSoftmax(model, ids, hooks: adapter)
                let last = rows[v + ids.count - 1]
                ids.append(Int32(last.indices.max { last[$0] < last[$1] }!))
            }
            guard let k = (1...4).last(where: { k in
                let piece = Array(ids[start..<(start + k)])
                return !piece.contains { tok.specialTokenIds.contains($0) }
                    && tok.encode(tok.decode(piece), addSpecialTokens: false) == piece
            }) else { continue }
            examples.append(.promptCompletion(prompt: prompt, completion: tok.decode(Array(ids[start..<(start + k)]))))
        }
        XCTAssertEqual(examples.count, 2, "prompts with a usable greedy continuation")
        examples.append(.promptCompletion(prompt: "The quick brown fox", completion: "something else"))
        var evaluator = Evaluator(model: model, encoder: encoder, hooks: adapter)
        evaluator.generationSlack = 0
        let result = try evaluator.evaluate(try JSONLDataset(examples: examples), exactMatch: true)
        XCTAssertEqual(try XCTUnwrap(result.exactMatch), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(result.primaryMetric.name, "exact_match")
    }
}
