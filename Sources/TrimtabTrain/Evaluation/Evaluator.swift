import Foundation
import TrimtabModels
import TrimtabTensor

/// Measures a model (with an adapter, or the zero-shot base model) on a data set.
///
/// - classification: rank classification. Every label word's total log-probability
///   after the templated input is computed and the best label is the prediction. When
///   every label word is one token (the usual case) this takes one forward pass per
///   batch of inputs: the label words share the input as their prefix, so the logits at
///   the input's last position score them all. Longer label words take one row per
///   (example, label).
/// - prompt/completion: loss and perplexity of the completions; exact match of greedy
///   generation when `exactMatch` is on.
/// - text and messages: loss and perplexity of the tokens that carry loss.
///
/// Inputs are encoded exactly as in training (``ExampleEncoder``), batched by length.
public struct Evaluator {
    /// The frozen model.
    public let model: LanguageModel
    /// Encodes examples exactly as training did (task, template, label words, maximum length).
    public let encoder: ExampleEncoder
    /// The adapter steering the model (`nil` evaluates the base model).
    public let hooks: ModelHooks?
    /// Rows per forward pass.
    public var batchSize: Int
    /// Extra tokens generation may produce beyond the reference completion's length.
    public var generationSlack = 16

    /// An evaluator of `model` steered by `hooks` (`nil`: zero-shot), `batchSize` rows per forward pass.
    public init(model: LanguageModel, encoder: ExampleEncoder, hooks: ModelHooks?, batchSize: Int = 16) {
        precondition(batchSize > 0, "batch size \(batchSize)")
        self.model = model
        self.encoder = encoder
        self.hooks = hooks
        self.batchSize = batchSize
    }

    /// Evaluates `dataset`, whose shape must be the encoder's task kind.
    ///
    /// - Parameter exactMatch: generate greedily for prompt/completion data (slower: one
    ///   forward pass per generated token).
    /// - Throws: ``DatasetError`` for an example that cannot be encoded (a label outside
    ///   the task's labels, named with its file and line).
    public func evaluate(_ dataset: JSONLDataset, exactMatch: Bool = false) throws -> EvaluationResult {
        let start = Date()
        guard dataset.shape == encoder.task.kind else {
            throw DatasetError.mixedShapes(file: dataset.source, line: dataset.lineNumbers.first ?? 1,
                                           expected: encoder.task.kind, found: dataset.shape)
        }
        var result: EvaluationResult
        if dataset.shape == .classification {
            result = try classify(dataset)
        } else {
            let encoded = try encoder.encode(dataset)
            let scores = logProbabilities(encoded)
            var total = 0.0, count = 0
            for s in scores {
                for v in s { total -= Double(v) }
                count += s.count
            }
            let loss = count > 0 ? total / Double(count) : 0
            result = EvaluationResult(kind: dataset.shape, examples: dataset.count, tokens: count, loss: loss,
                                      perplexity: exp(loss), seconds: 0)
            if exactMatch, dataset.shape == .promptCompletion {
                result.exactMatch = exactMatchRate(dataset, encoded)
            }
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    /// The log-probabilities of every example's targets, batched by length.
    public func logProbabilities(_ examples: [EncodedExample]) -> [[Float]] {
        logProbabilities(examples) { _ in hooks }
    }

    /// ``logProbabilities(_:)`` with the hooks of each batch chosen by `rowHooks` from the
    /// batch's example indices (mixed-adapter batches).
    func logProbabilities(_ examples: [EncodedExample], rowHooks: ([Int]) -> ModelHooks?) -> [[Float]] {
        var out = [[Float]](repeating: [], count: examples.count)
        for indices in LengthGroupedSampler.evaluationBatches(lengths: examples.map(\.count), batchSize: batchSize) {
            let batch = TrainingBatch(indices.map { examples[$0] }, lengthMultiple: 4)
            let scores = LanguageModelLoss.targetLogProbabilities(model: model, batch: batch, hooks: rowHooks(indices))
            var at = 0
            for (row, index) in indices.enumerated() {
                var n = 0
                while at + n < batch.targetRows.count && batch.targetRows[at + n] == row { n += 1 }
                out[index] = Array(scores[at..<(at + n)])
                at += n
            }
        }
        return out
    }

    // MARK: - Classification

    /// Rank classification of every example.
    func classify(_ dataset: JSONLDataset) throws -> EvaluationResult {
        let (prompts, gold) = try classificationPrompts(dataset)
        return try classificationResult(labelScores(prompts), gold: gold)
    }

    /// The encoded input of every classification example and the index of its gold label.
    func classificationPrompts(_ dataset: JSONLDataset) throws -> (prompts: [[Int32]], gold: [Int]) {
        guard let format = encoder.task.classification else {
            throw DatasetError.invalidTaskFormat("\(dataset.source): no label words for classification")
        }
        var prompts: [[Int32]] = [], gold: [Int] = []
        for (example, line) in zip(dataset.examples, dataset.lineNumbers) {
            guard case let .classification(text, label) = example else { continue }
            guard let index = format.labels.firstIndex(of: label) else {
                throw DatasetError.unknownLabel(file: dataset.source, line: line, label: label, known: format.labels)
            }
            prompts.append(try encoder.classificationPrompt(text, file: dataset.source, line: line).ids)
            gold.append(index)
        }
        return (prompts, gold)
    }

    /// Accuracy, confusion and loss from `scores[example][label]` (total log-probabilities).
    func classificationResult(_ scores: [[Float]], gold: [Int]) throws -> EvaluationResult {
        guard let format = encoder.task.classification else {
            throw DatasetError.invalidTaskFormat("no label words for classification")
        }
        let k = format.labels.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var correct = 0, nll = 0.0, tokens = 0
        for (i, s) in scores.enumerated() {
            var best = 0
            for j in 1..<k where s[j] > s[best] { best = j }
            confusion[gold[i]][best] += 1
            if best == gold[i] { correct += 1 }
            nll -= Double(s[gold[i]])
            tokens += encoder.labelTokens[gold[i]].count
        }
        let loss = tokens > 0 ? nll / Double(tokens) : 0
        return EvaluationResult(kind: .classification, examples: scores.count, tokens: tokens, loss: loss,
                                perplexity: exp(loss), accuracy: Double(correct) / Double(max(1, scores.count)),
                                labels: format.labels, confusion: confusion, seconds: 0)
    }

    /// `scores[i][j]`: total log-probability of label word `j` after prompt `i`.
    public func labelScores(_ prompts: [[Int32]]) -> [[Float]] {
        labelScores(prompts) { _ in hooks }
    }

    /// ``labelScores(_:)`` with the hooks of each batch chosen by `rowHooks` from the
    /// batch's prompt indices (mixed-adapter batches).
    func labelScores(_ prompts: [[Int32]], rowHooks: ([Int]) -> ModelHooks?) -> [[Float]] {
        let words = encoder.labelTokens
        if words.allSatisfy({ $0.count == 1 }) {
            // One forward per batch; the last input position scores every label token.
            var out = [[Float]](repeating: [], count: prompts.count)
            for indices in LengthGroupedSampler.evaluationBatches(lengths: prompts.map(\.count), batchSize: batchSize) {
                let rows = indices.map { prompts[$0] }
                let batch = TrainingBatch(rows.map { ids in
                    // The last prompt token is the (dummy) target, so its predecessor's row is
                    // gathered; shift by one so the gathered row is the last prompt position.
                    var mask = [UInt8](repeating: 0, count: ids.count + 1)
                    mask[ids.count] = 1
                    return EncodedExample(ids: ids + [words[0][0]], lossMask: mask)
                }, lengthMultiple: 4)
                let tape = Tape(recording: false)
                let hidden = LanguageModelLoss.targetHiddenStates(model: model, batch: batch, hooks: rowHooks(indices),
                                                                  tape: tape)
                let logits = model.logits(hidden, tape: tape).value
                let columns = words.map { word in
                    CrossEntropy.tokenLogProbabilities(logits: logits.floats, targets: [Int32](repeating: word[0], count: rows.count),
                                                       rows: rows.count, vocab: model.vocabularySize)
                }
                for (r, index) in indices.enumerated() { out[index] = columns.map { $0[r] } }
            }
            return out
        }
        // Multi-token label words: one row per (prompt, label).
        var examples: [EncodedExample] = []
        for p in prompts {
            for w in words {
                examples.append(EncodedExample(ids: p + w, lossMask: [UInt8](repeating: 0, count: p.count)
                                                   + [UInt8](repeating: 1, count: w.count)))
            }
        }
        // Row i·L + j holds prompt i with label j.
        let scores = logProbabilities(examples) { rows in rowHooks(rows.map { $0 / words.count }) }
        return prompts.indices.map { i in words.indices.map { j in scores[i * words.count + j].reduce(0, +) } }
    }

    // MARK: - Generation

    /// Fraction of prompts whose greedy continuation equals the completion (trimmed).
    func exactMatchRate(_ dataset: JSONLDataset, _ encoded: [EncodedExample]) -> Double {
        let generator = Generator(model: model)
        var stops = Set<Int32>()
        if let eos = encoder.eos { stops.insert(eos) }
        if let end = encoder.tokenizer.chatTemplate?.endOfTurn, let id = encoder.tokenizer.tokenToId(end) { stops.insert(id) }
        var matches = 0
        for (example, e) in zip(dataset.examples, encoded) {
            guard case let .promptCompletion(prompt, completion) = example else { continue }
            let ids = encoder.promptIds(prompt)
            let target = e.count - (e.promptLength ?? e.count)
            let result = generator.generate(prompt: ids, maxTokens: target + generationSlack, stopTokens: stops, hooks: hooks)
            let text = encoder.tokenizer.decode(result.tokens, skipSpecialTokens: true)
            if text.trimmingCharacters(in: .whitespacesAndNewlines) == completion.trimmingCharacters(in: .whitespacesAndNewlines) {
                matches += 1
            }
        }
        return Double(matches) / Double(max(1, dataset.count))
    }
}
