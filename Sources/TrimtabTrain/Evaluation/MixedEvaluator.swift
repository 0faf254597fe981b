import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor

/// Evaluates several adapters (and optionally the base model) on one data set, all of
/// them together: every batch mixes rows of different adapters, and one forward pass
/// serves them all (``MixedAdapterHooks``).
///
/// Each adapter encodes the data with its own ``ExampleEncoder`` (its template and
/// maximum length); classification requires every encoder to share the label words, so
/// one scoring pass serves all rows. Each adapter's result equals what ``Evaluator``
/// reports for it alone (up to float rounding). Exact match (greedy generation for
/// prompt/completion data) runs adapter by adapter.
public struct MixedEvaluator {
    /// One adapter to evaluate (`nil`: the base model) and how it encodes examples.
    public struct Entry {
        public var adapter: Adapter?
        public var encoder: ExampleEncoder

        public init(adapter: Adapter?, encoder: ExampleEncoder) {
            self.adapter = adapter
            self.encoder = encoder
        }
    }

    public let model: LanguageModel
    public let entries: [Entry]
    /// Rows per forward pass (rows of all adapters together).
    public var batchSize: Int

    public init(model: LanguageModel, entries: [Entry], batchSize: Int = 32) {
        precondition(!entries.isEmpty && batchSize > 0, "a mixed evaluation needs adapters and a positive batch size")
        self.model = model
        self.entries = entries
        self.batchSize = batchSize
    }

    /// One result per entry, in order. Each result's `seconds` is the whole evaluation's.
    ///
    /// - Throws: ``DatasetError`` for an example that cannot be encoded, or when the
    ///   entries' classification label words differ.
    public func evaluate(_ dataset: JSONLDataset, exactMatch: Bool = false) throws -> [EvaluationResult] {
        let start = Date()
        let evaluators = entries.map { Evaluator(model: model, encoder: $0.encoder, hooks: $0.adapter, batchSize: batchSize) }
        for e in evaluators where e.encoder.task.kind != dataset.shape {
            throw DatasetError.mixedShapes(file: dataset.source, line: dataset.lineNumbers.first ?? 1,
                                           expected: e.encoder.task.kind, found: dataset.shape)
        }
        var owner: [Int] = []  // entry of each row
        func hooks(_ rows: [Int]) -> ModelHooks? {
            MixedAdapterHooks(rows: rows.map { entries[owner[$0]].adapter })
        }
        var results: [EvaluationResult] = []
        if dataset.shape == .classification {
            let words = evaluators[0].encoder.labelTokens
            for e in evaluators where e.encoder.labelTokens != words || e.encoder.task.classification?.labels
                != evaluators[0].encoder.task.classification?.labels {
                throw DatasetError.invalidTaskFormat(
                    "\(dataset.source): adapters evaluated together must share their labels and label words; "
                        + "pass --labels to use the same words for all")
            }
            var prompts: [[Int32]] = [], golds: [[Int]] = []
            for (k, e) in evaluators.enumerated() {
                let (p, gold) = try e.classificationPrompts(dataset)
                prompts += p
                golds.append(gold)
                owner += [Int](repeating: k, count: p.count)
            }
            let scores = evaluators[0].labelScores(prompts, rowHooks: hooks)
            var at = 0
            for (k, e) in evaluators.enumerated() {
                let n = golds[k].count
                results.append(try e.classificationResult(Array(scores[at..<(at + n)]), gold: golds[k]))
                at += n
            }
        } else {
            var examples: [EncodedExample] = [], counts: [Int] = [], encodedPerEntry: [[EncodedExample]] = []
            for (k, e) in evaluators.enumerated() {
                let encoded = try e.encoder.encode(dataset)
                examples += encoded
                counts.append(encoded.count)
                encodedPerEntry.append(encoded)
                owner += [Int](repeating: k, count: encoded.count)
            }
            let scores = evaluators[0].logProbabilities(examples, rowHooks: hooks)
            var at = 0
            for (k, e) in evaluators.enumerated() {
                var total = 0.0, count = 0
                for s in scores[at..<(at + counts[k])] {
                    for v in s { total -= Double(v) }
                    count += s.count
                }
                at += counts[k]
                let loss = count > 0 ? total / Double(count) : 0
                var result = EvaluationResult(kind: dataset.shape, examples: dataset.count, tokens: count, loss: loss,
                                              perplexity: exp(loss), seconds: 0)
                if exactMatch, dataset.shape == .promptCompletion {
                    result.exactMatch = e.exactMatchRate(dataset, encodedPerEntry[k])
                }
                results.append(result)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        for i in results.indices { results[i].seconds = seconds }
        return results
    }
}
