import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabTrain

/// `trimtab eval`: measures a model, with an adapter or zero-shot, on a JSONL data set.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model (with an adapter, or zero-shot) on JSONL data.",
        discussion: """
        Classification ({"text","label"}): accuracy by rank classification (the label word with the \
        highest log-probability after the templated text). Prompt/completion: exact match of greedy \
        generation, loss and perplexity. Text and chat: loss and perplexity. The template and label \
        words come from the adapter (trimtab_config.json) unless --template or --labels is given.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("An adapter directory (PEFT format); without it the base model is evaluated.", valueName: "dir"))
    var adapter: String?
    @Option(help: ArgumentHelp("The data (JSONL).", valueName: "file"))
    var data: String
    @Option(help: ArgumentHelp("Classification template with {text}; \\n is a newline.", valueName: "template"))
    var template: String?
    @Option(help: ArgumentHelp("Label words, e.g. positive=\" positive\",negative=\" negative\".", valueName: "spec"))
    var labels: String?
    @Option(help: "Rows per forward pass.")
    var batchSize = 32
    @Option(help: "Longest input in tokens (default: the adapter's training setting, else 256).")
    var maxSeqLen: Int?
    @Flag(inversion: .prefixedNo, help: "Generate for prompt/completion data to measure exact match.")
    var exactMatch = true
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be ≥ 1") }
        if let maxSeqLen, maxSeqLen < 2 { throw ValidationError("--max-seq-len must be ≥ 2") }
    }

    func run() throws {
        let dataset = try JSONLDataset(contentsOf: URL(fileURLWithPath: data))
        let loaded = try modelOptions.load()
        var hooks: Adapter?
        var stored: TaskFormat?
        var storedLength: Int?
        if let adapter {
            let (loadedAdapter, extras) = try AdapterFiles.load(from: URL(fileURLWithPath: adapter), model: loaded.model)
            loadedAdapter.isTraining = false
            hooks = loadedAdapter
            if let extras {
                stored = try TaskFormat(extras: extras)
                storedLength = extras.values["max_seq_len"].flatMap { Int($0) }
            }
        }
        var labelWords: [(label: String, word: String)] = []
        if let labels {
            do {
                labelWords = try ClassificationFormat.parseLabelWords(labels)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        let templateText = template.map(TrainCommand.unescape)
        if dataset.shape != .classification && (templateText != nil || !labelWords.isEmpty) {
            throw ValidationError("--template and --labels apply to classification data; \(data) is \(dataset.shape)")
        }
        let task: TaskFormat
        if let stored, stored.kind == dataset.shape, let format = stored.classification {
            // The adapter's task, with overrides.
            let words = labelWords.isEmpty ? format.labels.map { ($0, format.labelWords[$0] ?? " " + $0) } : labelWords
            task = try TaskFormat.infer(from: dataset, template: templateText ?? format.template, labelWords: words)
        } else if let stored, stored.kind == dataset.shape {
            task = stored
        } else {
            if let stored {
                FileHandle.standardError.write(Data("note: the adapter was trained on \(stored.kind) data; \(data) is \(dataset.shape)\n".utf8))
            }
            task = try TaskFormat.infer(from: dataset, template: templateText, labelWords: labelWords)
        }
        let encoder = try ExampleEncoder(tokenizer: loaded.tokenizer, task: task,
                                         maxSequenceLength: maxSeqLen ?? storedLength ?? 256)
        let evaluator = Evaluator(model: loaded.model, encoder: encoder, hooks: hooks, batchSize: batchSize)
        let result = try evaluator.evaluate(dataset, exactMatch: exactMatch)

        if json {
            struct Output: Encodable {
                var model: String
                var adapter: String?
                var data: String
                var template: String?
                var labelWords: [String: String]?
                var result: EvaluationResult
                enum CodingKeys: String, CodingKey { case model, adapter, data, template, labelWords = "label_words", result }
            }
            let encoderJSON = JSONEncoder()
            encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let output = Output(model: loaded.source, adapter: adapter, data: data, template: task.classification?.template,
                                labelWords: task.classification?.labelWords, result: result)
            print(String(decoding: try encoderJSON.encode(output), as: UTF8.self))
            return
        }
        print("model     \(loaded.source)")
        print("adapter   \(adapter ?? "none (zero-shot)")")
        print("data      \(data) (\(result.examples) \(dataset.shape.rawValue) examples)")
        if let format = task.classification {
            print("template  \(format.template.debugDescription)")
            print("labels    " + format.labels.map { "\($0)=\(format.labelWords[$0]!.debugDescription)" }.joined(separator: ", "))
        }
        if let accuracy = result.accuracy, let confusion = result.confusion, let names = result.labels {
            let correct = confusion.indices.reduce(0) { $0 + confusion[$1][$1] }
            print(String(format: "accuracy  %.4f (%d/%d)", accuracy, correct, result.examples))
            let width = max(6, names.map(\.count).max() ?? 0) + 2
            func cell(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            print("confusion (rows: gold, columns: predicted)")
            print("  " + cell("") + names.map(cell).joined())
            for (i, row) in confusion.enumerated() {
                print("  " + cell(names[i]) + row.map { cell(String($0)) }.joined())
            }
        }
        if let exact = result.exactMatch { print(String(format: "exact     %.4f", exact)) }
        print(String(format: "loss      %.4f (per target token, %d tokens)", result.loss, result.tokens))
        print(String(format: "perplexity %.3f", result.perplexity))
        print(String(format: "time      %.1f s (%.0f examples/s)", result.seconds, Double(result.examples) / max(result.seconds, 1e-9)))
    }
}
