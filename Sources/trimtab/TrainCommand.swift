import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabTrain

/// `trimtab train`: trains a prompt-learning adapter on a JSONL data set.
///
/// Every setting can come from the command line or a `--config FILE.yaml` (keys are the
/// flag names); the command line wins, then the file, then the defaults.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a PEFT adapter (prompt, prefix, LoRA, (IA)³, bottleneck) or the model's own biases, norms or weights.",
        discussion: """
        Data is JSONL: {"text"}, {"prompt","completion"}, {"messages":[...]} or {"text","label"} \
        (classification with --template and --labels). The run directory gets config.json, \
        metrics.jsonl, report.html, checkpoint-<step>/ directories and the adapter in adapter/ \
        (PEFT format). Ctrl-C writes a checkpoint; --resume continues from the latest one.

        Example:
          trimtab train --method prompt-tuning --data train.jsonl --valid valid.jsonl \\
            --template "Review: {text}\\nSentiment:" --labels 'positive=" positive",negative=" negative"' \\
            --epochs 1 --output runs/rt
        """
    )

    // Model, method, data.
    @Option(help: ArgumentHelp("A Hugging Face model directory or a .gguf file (default: SmolLM2-135M-Instruct from the asset cache).", valueName: "path"))
    var model: String?
    @Option(help: "Storage of the frozen weight matrices: f32 or bf16 (default f32).")
    var weights: String?
    @Option(help: "prompt-tuning, p-tuning, prefix-tuning, lora, ia3, adapter (bottleneck adapters), bitfit, ln-tuning or full.")
    var method: String?
    @Option(help: ArgumentHelp("Training data (JSONL).", valueName: "file"))
    var data: String?
    @Option(help: ArgumentHelp("Validation data (JSONL, same shape as --data).", valueName: "file"))
    var valid: String?
    @Option(help: ArgumentHelp("The run directory.", valueName: "dir"))
    var output: String?
    @Option(help: ArgumentHelp("A YAML file of these settings (keys are the flag names).", valueName: "file"))
    var config: String?

    // The adapter.
    @Option(help: "Virtual tokens (default 20).")
    var virtualTokens: Int?
    @Option(name: .customLong("init"), help: ArgumentHelp("Prompt tuning's initialisation: random, vocab or text; "
                + "prefix tuning: random or text (the model's own keys and values for --init-text) (default random)."))
    var initialisation: String?
    @Option(help: "The text for --init text.")
    var initText: String?
    @Option(help: "P-tuning's prompt encoder: mlp or lstm (default mlp).")
    var encoder: String?
    @Option(help: "Hidden width of P-tuning's encoder and the prefix projection (default: the model's).")
    var encoderHiddenSize: Int?
    @Flag(inversion: .prefixedNo, help: "Prefix tuning through an MLP reparameterisation (default off).")
    var prefixProjection: Bool?
    @Option(help: "Bottleneck adapters: hidden size ÷ bottleneck width (default 16).")
    var reductionFactor: Int?
    @Option(help: "Bottleneck adapters: houlsby (after attention and FFN) or pfeiffer (after FFN; default).")
    var adapterKind: String?
    @Option(help: "Bottleneck adapters: relu (default), gelu, silu or tanh.")
    var nonLinearity: String?
    @OptionGroup(title: "LoRA and (IA)³")
    var linear: LinearMethodFlags

    // Optimisation.
    @Option(help: "Passes over the data (default 1; --steps overrides).")
    var epochs: Int?
    @Option(help: "Optimizer steps.")
    var steps: Int?
    @Option(help: "Examples per forward pass (default 8).")
    var batchSize: Int?
    @Option(help: "Forward passes per optimizer step (default 1).")
    var gradAccum: Int?
    @Option(help: "Peak learning rate (default: 0.1 prompt tuning, 1e-3 P-tuning, 1e-2 prefix tuning, 1e-3 LoRA, 3e-3 (IA)³).")
    var lr: Float?
    @Option(help: "AdamW weight decay (default 0).")
    var weightDecay: Double?
    @Option(help: "Learning-rate schedule: \(LRSchedule.names.joined(separator: ", ")) (default linear).")
    var schedule: String?
    @Option(help: "Warm-up steps (default 0).")
    var warmup: Int?
    @Option(help: "Clip the global gradient norm to this (default 1; 0 turns clipping off).")
    var maxGradNorm: Float?
    @Option(help: "Longest example in tokens (default 256).")
    var maxSeqLen: Int?
    @Option(help: "Seed of the data order and the adapter's initial values (default 42).")
    var seed: UInt64?

    // Evaluation, checkpoints, logging.
    @Option(help: "Evaluate on --valid every N steps (default: once an epoch and at the end).")
    var evalEvery: Int?
    @Option(help: "Write a checkpoint every N steps (default: at the end only).")
    var saveEvery: Int?
    @Option(help: "Print a progress line every N steps when not on a terminal (default 10).")
    var logEvery: Int?
    @Option(help: "Stop after N evaluations without improvement of the validation metric.")
    var earlyStop: Int?
    @Option(help: "Rows per forward pass in evaluation (default: twice --batch-size).")
    var evalBatchSize: Int?

    // Classification.
    @Option(help: ArgumentHelp("Classification template with {text} (default \"Text: {text}\\nLabel:\"); \\n is a newline.", valueName: "template"))
    var template: String?
    @Option(help: ArgumentHelp("Label words, e.g. positive=\" positive\",negative=\" negative\" (default: each label with a leading space).", valueName: "spec"))
    var labels: String?

    // Resuming.
    @Flag(help: "Continue from the latest checkpoint in --output.")
    var resume = false
    @Option(help: ArgumentHelp("Continue from this checkpoint directory.", valueName: "dir"))
    var resumeFrom: String?

    static let fileKeys: Set<String> = Set<String>([
        "model", "weights", "method", "data", "valid", "output", "virtual-tokens", "init", "init-text", "encoder",
        "encoder-hidden-size", "prefix-projection", "reduction-factor", "adapter-kind", "non-linearity", "epochs", "steps", "batch-size", "grad-accum", "lr", "weight-decay",
        "schedule", "warmup", "max-grad-norm", "max-seq-len", "seed", "eval-every", "save-every", "log-every",
        "early-stop", "eval-batch-size", "template", "labels",
    ]).union(LinearMethodFlags.fileKeys)

    func run() throws {
        let file = try config.map { try SettingsFile(path: $0, known: Self.fileKeys) } ?? SettingsFile()

        // Resolve every setting: command line, then file, then default.
        let methodName = try method ?? file.string("method") ?? "prompt-tuning"
        let linearMethod = LinearMethodFlags.method(methodName)
        // LoRA and (IA)³ are made by their own factory; the other methods by TrainingMethod's.
        let trainingMethod: TrainingMethod = try linearMethod == nil ? Self.parseMethod(methodName) : .promptTuning
        let promptMethod = linearMethod == nil ? trainingMethod.promptMethod : nil
        if linearMethod == nil && linear.anySet {
            throw ValidationError("--rank, --alpha, --lora-dropout, --target-modules, --layers, --rslora, --dora and --bias "
                                  + "apply to --method lora or ia3")
        }
        guard let dataPath = try data ?? file.string("data") else {
            throw ValidationError("--data is required (a JSONL file)")
        }
        guard let outputPath = try output ?? file.string("output") else {
            throw ValidationError("--output is required (the run directory)")
        }
        let validPath = try valid ?? file.string("valid")
        let modelPath = try model ?? file.string("model")
            ?? AssetCache.path("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let weightsName = try weights ?? file.string("weights") ?? "f32"
        guard let matrixType = DType(rawValue: weightsName), matrixType != .f16 else {
            throw ValidationError("--weights must be f32 or bf16, not '\(weightsName)'")
        }

        var c = TrainingConfiguration()
        c.learningRate = try lr ?? file.double("lr").map(Float.init)
            ?? linearMethod.map(LinearMethodFlags.defaultLearningRate) ?? trainingMethod.defaultLearningRate
        if steps != nil || epochs != nil {
            c.steps = steps
            c.epochs = epochs ?? 1
        } else {
            c.steps = try file.int("steps")
            c.epochs = try file.int("epochs") ?? 1
        }
        c.batchSize = try batchSize ?? file.int("batch-size") ?? c.batchSize
        c.gradientAccumulation = try gradAccum ?? file.int("grad-accum") ?? c.gradientAccumulation
        c.weightDecay = try weightDecay ?? file.double("weight-decay") ?? c.weightDecay
        c.schedule = try schedule ?? file.string("schedule") ?? c.schedule
        c.warmupSteps = try warmup ?? file.int("warmup") ?? c.warmupSteps
        let clip = try maxGradNorm ?? file.double("max-grad-norm").map(Float.init) ?? 1
        c.maxGradNorm = clip == 0 ? nil : clip
        c.maxSequenceLength = try maxSeqLen ?? file.int("max-seq-len") ?? c.maxSequenceLength
        c.seed = try seed ?? file.int("seed").map { UInt64(clamping: $0) } ?? c.seed
        c.evalEvery = try evalEvery ?? file.int("eval-every")
        c.saveEvery = try saveEvery ?? file.int("save-every")
        c.logEvery = try logEvery ?? file.int("log-every") ?? c.logEvery
        c.earlyStopPatience = try earlyStop ?? file.int("early-stop")
        c.evalBatchSize = try evalBatchSize ?? file.int("eval-batch-size")
        try c.validate()

        var options = PromptMethodOptions()
        options.virtualTokens = try virtualTokens ?? file.int("virtual-tokens") ?? 20
        guard options.virtualTokens > 0 else { throw ValidationError("--virtual-tokens must be ≥ 1") }
        let initName = try initialisation ?? file.string("init") ?? "random"
        options.initialisation = try Self.parseInit(initName)
        options.initText = try initText ?? file.string("init-text")
        if options.initialisation == .text && (options.initText ?? "").isEmpty {
            throw ValidationError("--init text needs --init-text")
        }
        if options.initText != nil && options.initialisation != .text {
            throw ValidationError("--init-text is used only with --init text")
        }
        options.prefixProjection = try prefixProjection ?? file.bool("prefix-projection") ?? false
        let accepted = promptMethod?.accepts(options.initialisation, prefixProjection: options.prefixProjection)
            ?? (options.initialisation == .random)  // the other methods have no --init
        if !accepted {
            throw ValidationError("--init \(initName) applies to prompt tuning, and text to prefix tuning without "
                                  + "--prefix-projection")
        }
        let encoderName = try encoder ?? file.string("encoder") ?? "mlp"
        guard let encoderKind = PromptEncoderKind(rawValue: encoderName.uppercased()) else {
            throw ValidationError("--encoder must be mlp or lstm, not '\(encoderName)'")
        }
        options.encoder = encoderKind
        options.encoderHiddenSize = try encoderHiddenSize ?? file.int("encoder-hidden-size")
        if let size = options.encoderHiddenSize, size < 1 { throw ValidationError("--encoder-hidden-size must be ≥ 1") }
        if options.prefixProjection && promptMethod != .prefixTuning {
            throw ValidationError("--prefix-projection applies to prefix tuning only")
        }
        options.seed = c.seed
        options.baseModelNameOrPath = modelPath
        let bottleneck = try Self.bottleneckOptions(file: file, cli: (reductionFactor, adapterKind, nonLinearity),
                                                   method: trainingMethod)

        let templateText = try template.map(Self.unescape) ?? file.string("template")
        var labelWords: [(label: String, word: String)] = []
        if let labels {
            do {
                labelWords = try ClassificationFormat.parseLabelWords(labels)
            } catch {
                throw ValidationError("\(error)")
            }
        } else if let fromFile = try file.labelWords("labels") {
            labelWords = fromFile
        }

        // Data first: a bad line should not wait for the model to load.
        let train = try JSONLDataset(contentsOf: URL(fileURLWithPath: dataPath))
        let validSet = try validPath.map { try JSONLDataset(contentsOf: URL(fileURLWithPath: $0), expecting: train.shape) }
        if train.shape != .classification && (templateText != nil || !labelWords.isEmpty) {
            throw ValidationError("--template and --labels apply to classification data ({\"text\",\"label\"}); "
                                  + "\(dataPath) is \(train.shape)")
        }
        let task = try TaskFormat.infer(from: train, template: templateText, labelWords: labelWords)

        let outputURL = URL(fileURLWithPath: outputPath)
        var checkpoint: URL?
        if let resumeFrom {
            checkpoint = URL(fileURLWithPath: resumeFrom)
        } else if resume {
            guard let latest = Trainer.latestCheckpoint(in: outputURL) else {
                throw ValidationError("--resume: no checkpoint-<step> directory in \(outputPath)")
            }
            checkpoint = latest
        }

        if model == nil, !FileManager.default.fileExists(atPath: modelPath) {
            throw ValidationError("\(modelPath) is missing: run scripts/fetch-assets.sh, or pass --model PATH")
        }
        let loadStart = Date()
        if trainingMethod == .full && matrixType != .f32 {
            throw ValidationError("--method full trains every weight in f32; drop --weights \(weightsName)")
        }
        let loaded = try ModelLoader.load(modelPath, matrixType: matrixType, trainable: trainingMethod.trainableWeights)
        print("model: \(loaded.source) (\(loaded.model.architecture), \(loaded.model.layerCount) layers, "
              + "hidden \(loaded.model.hiddenSize)), loaded in " + String(format: "%.1f s", Date().timeIntervalSince(loadStart)))
        let adapter: Adapter
        var linearSettings: [String: String] = [:]
        do {
            if let linearMethod {
                let (linearOptions, recorded) = try linear.options(linearMethod, file: file, seed: c.seed, baseModel: modelPath)
                linearSettings = recorded
                adapter = try makeLinearAdapter(linearMethod, options: linearOptions, model: loaded.model)
            } else {
                var methodOptions = MethodOptions(prompt: options, bottleneck: bottleneck)
                methodOptions.modelName = Self.modelName(modelPath)
                adapter = try makeAdapter(trainingMethod, options: methodOptions, model: loaded.model,
                                          tokenizer: loaded.tokenizer)
            }
        } catch let AdapterError.invalidOption(field, reason) {
            throw ValidationError("\(linearMethod == nil ? Self.flag(forOption: field) : LinearMethodFlags.flag(forOption: field)): \(reason)")
        } catch let AdapterError.invalidConfiguration(nil, "target_modules", reason) {
            throw ValidationError("--target-modules: \(reason)")
        } catch let error as AdapterError {
            throw ValidationError("\(error)")
        }
        if trainingMethod == .full {
            let count = adapter.trainableParameters.values.reduce(0) { $0 + $1.value.count }
            let gib = Double(count * 4) / 1_073_741_824
            print(String(format: "full fine-tuning: %.1f M parameters; weights %.2f GiB + gradients %.2f GiB + AdamW "
                         + "moments %.2f GiB = %.2f GiB before activations", Double(count) / 1e6, gib, gib, 2 * gib, 4 * gib))
        }
        let trainer = try Trainer(model: loaded.model, tokenizer: loaded.tokenizer, adapter: adapter, task: task,
                                  train: train, valid: validSet, configuration: c, output: outputURL)
        trainer.recordedSettings = [
            "model": modelPath, "weights": weightsName, "method": methodName, "data": dataPath, "valid": validPath ?? "",
            "output": outputPath, "virtual-tokens": String(options.virtualTokens), "init": initName,
            "init-text": options.initText ?? "", "encoder": encoderName,
            "encoder-hidden-size": options.encoderHiddenSize.map(String.init) ?? "",
            "prefix-projection": String(options.prefixProjection), "config": config ?? "",
            "reduction-factor": String(bottleneck.reductionFactor), "adapter-kind": bottleneck.architecture.rawValue,
            "non-linearity": bottleneck.nonLinearity.rawValue,
            "resumed-from": checkpoint?.path ?? "",
        ].merging(linearSettings) { $1 }
        trainer.observer = ConsoleProgress(logEvery: c.logEvery)
        let monitor = InterruptMonitor { [trainer] in trainer.requestStop() }
        let summary = try trainer.run(resumingFrom: checkpoint)
        withExtendedLifetime(monitor) {}
        if trainingMethod == .full && summary.status == .completed {
            // The fine-tuned model as a Hugging Face directory (transformers and --model DIR load it).
            let directory = outputURL.appendingPathComponent("model")
            try ModelDirectoryWriter.write(loaded, to: directory)
            print("model: \(directory.path) (Hugging Face model directory)")
        }
        print("report: \(outputURL.appendingPathComponent("report.html").path)")
        if summary.status == .interrupted {
            print("resume with the same command and --resume")
            throw ExitCode(130)
        }
    }

    /// `SmolLM2-135M-Instruct` for `…/SmolLM2-135M-Instruct.Q4_1.gguf` or a model directory.
    static func modelName(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        if name.hasSuffix(".gguf") {
            name = String(name.dropLast(5))
            if let dot = name.lastIndex(of: "."), name[name.index(after: dot)...].uppercased().hasPrefix("Q")
                || name[name.index(after: dot)...].uppercased().hasPrefix("F") {
                name = String(name[..<dot])
            }
        }
        return name
    }

    static func parseMethod(_ name: String) throws -> TrainingMethod {
        guard let method = TrainingMethod(name: name) else {
            let names = TrainingMethod.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--method must be one of \(names), lora or ia3, not '\(name)'")
        }
        return method
    }

    /// The bottleneck settings (command line, then file, then defaults); refused for other methods.
    static func bottleneckOptions(file: SettingsFile, cli: (Int?, String?, String?),
                                  method: TrainingMethod) throws -> BottleneckOptions {
        var b = BottleneckOptions()
        let factor = try cli.0 ?? file.int("reduction-factor")
        let kind = try cli.1 ?? file.string("adapter-kind")
        let activation = try cli.2 ?? file.string("non-linearity")
        if method != .adapter, factor != nil || kind != nil || activation != nil {
            throw ValidationError("--reduction-factor, --adapter-kind and --non-linearity apply to --method adapter only")
        }
        if let factor {
            guard factor >= 1 else { throw ValidationError("--reduction-factor must be ≥ 1") }
            b.reductionFactor = factor
        }
        if let kind {
            guard let value = BottleneckConfiguration.Architecture(rawValue: kind.lowercased()) else {
                throw ValidationError("--adapter-kind must be houlsby or pfeiffer, not '\(kind)'")
            }
            b.architecture = value
        }
        if let activation {
            guard let value = BottleneckConfiguration.NonLinearity(rawValue: activation.lowercased()) else {
                throw ValidationError("--non-linearity must be relu, gelu, silu or tanh, not '\(activation)'")
            }
            b.nonLinearity = value
        }
        return b
    }

    static func parseInit(_ name: String) throws -> PromptInit {
        switch name.lowercased() {
        case "random": return .random
        case "vocab", "sample-vocab", "sample_vocab": return .sampleVocab
        case "text": return .text
        default: throw ValidationError("--init must be random, vocab or text, not '\(name)'")
        }
    }

    /// The flag of a ``PromptMethodOptions`` field, for errors.
    static func flag(forOption field: String) -> String {
        switch field {
        case "virtualTokens": return "--virtual-tokens"
        case "initialisation": return "--init"
        case "initText": return "--init-text"
        case "encoderHiddenSize": return "--encoder-hidden-size"
        case "encoder": return "--encoder"
        case "prefixProjection": return "--prefix-projection"
        case "reductionFactor": return "--reduction-factor"
        default: return "--\(field)"
        }
    }

    /// `\n` and `\t` written on a command line become a newline and a tab; `\\` a backslash.
    static func unescape(_ s: String) -> String {
        var out = ""
        var it = s.makeIterator()
        while let c = it.next() {
            guard c == "\\" else { out.append(c); continue }
            switch it.next() {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "\\": out.append("\\")
            case let other?: out.append("\\"); out.append(other)
            case nil: out.append("\\")
            }
        }
        return out
    }
}
