import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabTrain

/// A training step of a PEFT method on a frozen model, timed as `trimtab bench` jobs.
///
/// One step is what the trainer does per batch: forward with the adapter's hooks, the
/// next-token loss over every position of B = 8 rows of T = 128 random tokens, backward,
/// global-norm clipping and an AdamW update of the adapter's parameters. The model loads
/// with f32 weight matrices (row `f32`) and with bf16 ones (row `bf16`). Reports real
/// tokens per second (virtual tokens not counted), milliseconds per step, peak resident
/// memory, and the achieved GFLOP/s counted as the issue defines it: 4·N FLOPs per token
/// for a frozen model (forward + input-gradient backward), 6·N when the weights train
/// too, N the model's parameter count without the embedding table plus the output
/// projection. `scripts/bench/torch_<job>.py` runs the same step with transformers + PEFT.
protocol TrainingStepJob: BenchJob {
    /// The adapter the step trains.
    static func makeAdapter(model: LanguageModel, loaded: LoadedModel) throws -> Adapter
    /// How the method is described in the report.
    static var methodSummary: String { get }
    /// Whether every weight of the model trains (full fine-tuning): then only f32 rows
    /// (trained weights stay f32) and 6·N FLOPs per token; false by default.
    static var trainsModelWeights: Bool { get }
}

extension TrainingStepJob {
    static var batch: Int { 8 }
    static var tokens: Int { 128 }
    static var trainsModelWeights: Bool { false }
    /// FLOPs per matrix parameter and token: forward and input gradients (4), plus the
    /// weight gradients when the weights train (6).
    static var flopsPerParameter: Int { trainsModelWeights ? 6 : 4 }

    func run(_ options: BenchOptions) throws -> BenchReport {
        let path = try PrefillBench.modelPath(options)
        var report = PrefillBench.throughputReport(
            job: Self.name,
            unit: "tokens/s (higher is better), ms per step, peak RSS in MiB, GFLOP/s (\(Self.flopsPerParameter)·N per token); "
                + "ratio = ours over PyTorch tokens/s",
            summary: "\(Self.methodSummary) training step on \(URL(fileURLWithPath: path).lastPathComponent), "
                + "B=\(Self.batch) T=\(Self.tokens), loss on every position, AdamW",
            timing: "median of steps after one warm-up, \(options.seconds) s per row, at least 3 steps",
            model: path, options: options,
            extraColumns: PrefillBench.rateColumns)

        var rng = SplitMix64(seed: 42)
        let types: [DType] = Self.trainsModelWeights ? [.f32] : [.f32, .bf16]
        for type in types where options.includes(dtype: type) {
            PrefillBench.resetPeakRSS()
            options.log("\(Self.name) \(type.rawValue): loading \(path)")
            let seconds: Double
            let flopsPerToken: Double
            do {
                let trainable = Self.trainsModelWeights ? TrainingMethod.full.trainableWeights : { _ in false }
                let loaded = try ModelLoader.load(path, matrixType: type, trainable: trainable, keepQuantizedBlocks: false)
                let model = loaded.model
                flopsPerToken = Double(Self.flopsPerParameter * Self.frozenMatrixParameters(model))
                let adapter = try Self.makeAdapter(model: model, loaded: loaded)
                let parameters = adapter.trainableParameters.keys.sorted().compactMap { adapter.trainableParameters[$0] }
                let optimizer = try AdamW(parameters: parameters, learningRate: 1e-3)
                let examples = (0..<Self.batch).map { _ in
                    EncodedExample(ids: (0..<Self.tokens).map { _ in Int32(rng.next() % UInt64(model.vocabularySize)) },
                                   lossMask: [0] + [UInt8](repeating: 1, count: Self.tokens - 1))
                }
                let batch = TrainingBatch(examples)
                let tape = Tape()
                adapter.isTraining = true
                options.log("\(Self.name) \(type.rawValue): timing")
                // One step; with a profile attached to the tape, the work outside it is booked too.
                func step() {
                    func phase<T>(_ name: String, _ body: () -> T) -> T { tape.profile?.measure(name, body) ?? body() }
                    tape.reset()
                    phase("zero gradients") { optimizer.zeroGrad() }
                    tape.profile?.mark()
                    let loss = LanguageModelLoss.loss(model: model, batch: batch, hooks: adapter, tape: tape)
                    tape.backward(from: loss)
                    _ = phase("clip gradients") { clipGradientNorm(parameters, maxNorm: 1) }
                    phase("AdamW") { optimizer.step() }
                }
                var timer = BenchTimer(seconds: options.seconds)
                timer.warmups = 1
                seconds = timer.measure([step])[0].median
                if options.profile {
                    options.log("\(Self.name) \(type.rawValue): profiling")
                    let profile = TapeProfile()
                    tape.profile = profile
                    let steps = 3
                    for _ in 0..<steps { step() }
                    tape.profile = nil
                    report.profiles = (report.profiles ?? []) + [Self.profileReport(profile, row: type.rawValue, steps: steps)]
                }
            }
            var row = BenchReport.Row(id: type.rawValue, labels: [type.rawValue, "\(Self.batch)×\(Self.tokens)"])
            let tokens = Double(Self.batch * Self.tokens)
            row.values["ours"] = tokens / seconds
            row.values["ours_ms"] = seconds * 1e3
            row.values["ours_gflops"] = tokens * flopsPerToken / seconds / 1e9
            if let peak = ProcessMemory.peakResidentBytes { row.values["ours_rss"] = Double(peak) / 1_048_576 }
            PrefillBench.addPeakShare(&row, &report, type: type, flopsPerToken: flopsPerToken, options: options)
            report.rows.append(row)
        }
        report.takeHeadline()
        return report
    }

    /// A profile's entries per step, as report lines.
    static func profileReport(_ profile: TapeProfile, row: String, steps: Int) -> BenchReport.Profile {
        func line(_ phase: String, _ op: String, _ e: TapeProfile.Entry) -> BenchReport.Profile.Line {
            let n = Double(steps)
            return .init(phase: phase, op: op, calls: Double(e.calls) / n, ms: Double(e.nanoseconds) / 1e6 / n,
                         gemmMs: Double(e.gemmNanoseconds) / 1e6 / n,
                         gemmGflops: e.gemmNanoseconds > 0 ? Double(e.gemmFlops) / Double(e.gemmNanoseconds) : 0)
        }
        var lines = profile.forward.map { line("forward", $0.key.rawValue, $0.value) }
        lines += profile.backward.map { line("backward", $0.key.rawValue, $0.value) }
        lines += profile.other.map { line("step", $0.key, $0.value) }
        return BenchReport.Profile(row: row, steps: steps, lines: lines)
    }

    /// Parameters of the model's matrix products per token: every weight matrix but the
    /// embedding table, plus the output projection (tied or not).
    static func frozenMatrixParameters(_ model: LanguageModel) -> Int {
        var total = 0
        for (name, variable) in model.parameters where variable.value.rank == 2 && !name.contains("embed_tokens") {
            total += variable.value.count
        }
        if model.parameters["lm_head.weight"] == nil { total += model.vocabularySize * model.hiddenSize }
        return total
    }
}

/// `trimtab bench --job prompt-tuning`: a 20-token soft prompt (random init).
struct PromptTuningStepBench: TrainingStepJob {
    static let name = "prompt-tuning"
    static let summary = "tokens/s, ms per step and peak RSS of a prompt-tuning training step "
        + "(20 virtual tokens) on B=8 T=128, f32 and bf16 weights"
    static let methodSummary = "prompt tuning (20 virtual tokens)"

    static func makeAdapter(model: LanguageModel, loaded: LoadedModel) throws -> Adapter {
        try TrimtabPEFT.makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 20, seed: 42),
                                    model: model, tokenizer: loaded.tokenizer)
    }
}

/// `trimtab bench --job prefix-tuning`: 20 prefix rows per layer, no projection.
struct PrefixTuningStepBench: TrainingStepJob {
    static let name = "prefix-tuning"
    static let summary = "tokens/s, ms per step and peak RSS of a prefix-tuning training step "
        + "(20 virtual tokens per layer) on B=8 T=128, f32 and bf16 weights"
    static let methodSummary = "prefix tuning (20 virtual tokens, no projection)"

    static func makeAdapter(model: LanguageModel, loaded: LoadedModel) throws -> Adapter {
        try TrimtabPEFT.makeAdapter(.prefixTuning, options: PromptMethodOptions(virtualTokens: 20, seed: 42),
                                    model: model, tokenizer: loaded.tokenizer)
    }
}

/// `trimtab bench --job lora`: LoRA r=8 (alpha 16) on q_proj and v_proj, PEFT's init.
struct LoRAStepBench: TrainingStepJob {
    static let name = "lora"
    static let summary = "tokens/s, ms per step and peak RSS of a LoRA training step "
        + "(r=8 on q_proj,v_proj) on B=8 T=128, f32 and bf16 weights"
    static let methodSummary = "LoRA (r=8, alpha 16, q_proj,v_proj)"

    static func makeAdapter(model: LanguageModel, loaded: LoadedModel) throws -> Adapter {
        try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 8, targetModules: .names(["q_proj", "v_proj"]),
                                                                  seed: 42),
                              model: model)
    }
}

/// `trimtab bench --job full`: every weight trains (f32 only: trained weights stay f32).
struct FullFineTuningStepBench: TrainingStepJob {
    static let name = "full"
    static let summary = "tokens/s, ms per step and peak RSS of a full fine-tuning step "
        + "(every weight, AdamW) on B=8 T=128, f32 weights"
    static let methodSummary = "full fine-tuning"
    static let trainsModelWeights = true

    static func makeAdapter(model: LanguageModel, loaded: LoadedModel) throws -> Adapter {
        try TrimtabPEFT.makeAdapter(.full, options: MethodOptions(), model: model, tokenizer: loaded.tokenizer)
    }
}
