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

        Several adapters (--adapter A --adapter B, or --adapter A,B; --with-base adds the base \
        model) are evaluated together: every batch mixes rows of all of them and one forward pass \
        serves them all. Each adapter encodes the data with its own template; the results are \
        reported per adapter, as each would get alone.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(parsing: .singleValue,
            help: ArgumentHelp("An adapter directory (PEFT format); repeat it or give a comma list to evaluate several "
                               + "together. Without it the base model is evaluated.", valueName: "dir"))
    var adapter: [String] = []
    @Flag(help: "With several adapters: evaluate the base model in the same batches too.")
    var withBase = false
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

    /// The adapter directories, comma lists split.
    var adapterPaths: [String] {
        adapter.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
    }

    func run() throws {
        let dataset = try JSONLDataset(contentsOf: URL(fileURLWithPath: data))
        let loaded = try modelOptions.load()
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
        let paths = adapterPaths
        if paths.count > 1 || (withBase && !paths.isEmpty) {
            return try runMixed(paths, dataset: dataset, loaded: loaded, templateText: templateText, labelWords: labelWords)
        }
        var hooks: Adapter?
        var stored: TaskFormat?
        var storedLength: Int?
        let adapter = paths.first
        if let adapter {
            let (loadedAdapter, extras) = try AdapterFiles.load(from: URL(fileURLWithPath: adapter), model: loaded.model)
            loadedAdapter.isTraining = false
            hooks = loadedAdapter
            if let extras {
                stored = try TaskFormat(extras: extras)
                storedLength = extras.values["max_seq_len"].flatMap { Int($0) }
            }
        }
        let task = try Self.task(stored: stored, dataset: dataset, data: data, templateText: templateText,
                                 labelWords: labelWords)
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

    /// The task an adapter is evaluated on: its stored task (template and label words,
    /// overridden by the flags) when it matches the data's shape, else one inferred from
    /// the data and the flags.
    static func task(stored: TaskFormat?, dataset: JSONLDataset, data: String, templateText: String?,
                     labelWords: [(label: String, word: String)]) throws -> TaskFormat {
        if let stored, stored.kind == dataset.shape, let format = stored.classification {
            let words = labelWords.isEmpty ? format.labels.map { ($0, format.labelWords[$0] ?? " " + $0) } : labelWords
            return try TaskFormat.infer(from: dataset, template: templateText ?? format.template, labelWords: words)
        }
        if let stored, stored.kind == dataset.shape { return stored }
        if let stored {
            FileHandle.standardError.write(Data("note: the adapter was trained on \(stored.kind) data; \(data) is \(dataset.shape)\n".utf8))
        }
        return try TaskFormat.infer(from: dataset, template: templateText, labelWords: labelWords)
    }

    /// Several adapters (and the base with --with-base) in mixed batches, one result each.
    func runMixed(_ paths: [String], dataset: JSONLDataset, loaded: LoadedModel, templateText: String?,
                  labelWords: [(label: String, word: String)]) throws {
        var names: [String] = [], entries: [MixedEvaluator.Entry] = []
        for path in paths {
            let (adapter, extras) = try AdapterFiles.load(from: URL(fileURLWithPath: path), model: loaded.model)
            adapter.isTraining = false
            if adapter is BaseWeightAdapter && (paths.count > 1 || withBase) {
                throw ValidationError("\(path) is a \(adapter.peftType) adapter: it changes the model's own weights, so it "
                                      + "cannot share a batch with other adapters or the base; evaluate it alone")
            }
            let stored: TaskFormat? = try extras.map { try TaskFormat(extras: $0) } ?? nil
            let task = try Self.task(stored: stored, dataset: dataset, data: data, templateText: templateText,
                                     labelWords: labelWords)
            let length = maxSeqLen ?? extras?.values["max_seq_len"].flatMap { Int($0) } ?? 256
            entries.append(.init(adapter: adapter,
                                 encoder: try ExampleEncoder(tokenizer: loaded.tokenizer, task: task, maxSequenceLength: length)))
            names.append(path)
        }
        if withBase {
            // The base model reads the data as the first adapter does (its template), unless the flags say otherwise.
            entries.append(.init(adapter: nil, encoder: entries[0].encoder))
            names.append("base")
        }
        let results: [EvaluationResult]
        do {
            results = try MixedEvaluator(model: loaded.model, entries: entries, batchSize: batchSize)
                .evaluate(dataset, exactMatch: exactMatch)
        } catch let error as DatasetError {
            throw ValidationError("\(error)")
        }
        if json {
            struct Row: Encodable {
                var adapter: String
                var template: String?
                var result: EvaluationResult
            }
            struct Output: Encodable {
                var model: String
                var data: String
                var adapters: [Row]
            }
            let encoderJSON = JSONEncoder()
            encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let rows = zip(zip(names, entries), results).map {
                Row(adapter: $0.0.0, template: $0.0.1.encoder.task.classification?.template, result: $0.1)
            }
            print(String(decoding: try encoderJSON.encode(Output(model: loaded.source, data: data, adapters: rows)), as: UTF8.self))
            return
        }
        print("model     \(loaded.source)")
        print("data      \(data) (\(dataset.count) \(dataset.shape.rawValue) examples)")
        print("adapters  \(names.count), evaluated together (\(names.count * dataset.count) rows, \(batchSize) per forward pass)")
        let width = max(8, names.map(\.count).max() ?? 0)
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        let hasAccuracy = results.first?.accuracy != nil, hasExact = results.first?.exactMatch != nil
        print(pad("adapter") + (hasAccuracy ? "  accuracy" : "") + (hasExact ? "     exact" : "") + "      loss  perplexity")
        for (name, r) in zip(names, results) {
            var line = pad(name)
            if let a = r.accuracy { line += String(format: "  %8.4f", a) }
            if let e = r.exactMatch { line += String(format: "  %8.4f", e) }
            line += String(format: "  %8.4f  %10.3f", r.loss, r.perplexity)
            print(line)
        }
        let seconds = results.first?.seconds ?? 0
        print(String(format: "time      %.1f s (%.0f rows/s)", seconds, Double(names.count * dataset.count) / max(seconds, 1e-9)))
    }
}
