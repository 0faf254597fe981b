import Foundation
import TrimtabModels
import TrimtabTensor
import TrimtabTrain

/// `trimtab bench --job prefill`: forward-only throughput of a whole model on a batch.
///
/// Loads the model (default SmolLM2-135M-Instruct from the asset cache, `--model PATH`
/// otherwise) once with f32 weight matrices and once with bf16 ones
/// (`ModelLoader.load(path, matrixType: .bf16)`), and times `hiddenStates` + `logits`
/// (every position, as a transformers forward does) on B = 8 rows of T = 128 random
/// tokens on a non-recording tape. Reports tokens per second, milliseconds per forward
/// and the peak resident set (`VmHWM`), which is reset between the two rows through
/// `/proc/self/clear_refs` after the previous model is released.
/// `scripts/bench/torch_prefill.py` runs transformers on the same GGUF, one process per row.
struct PrefillBench: BenchJob {
    static let name = "prefill"
    static let summary = "tokens/s, ms per forward and peak RSS of a model forward on B=8 T=128, "
        + "f32 and bf16 weights"

    static let batch = 8, tokens = 128

    func run(_ options: BenchOptions) throws -> BenchReport {
        let path = try Self.modelPath(options)
        var report = Self.throughputReport(
            job: Self.name, unit: "tokens/s (higher is better), ms per forward, peak RSS in MiB; "
                + "ratio = ours over PyTorch tokens/s",
            summary: "forward (hidden states + logits of every position) of \(URL(fileURLWithPath: path).lastPathComponent), "
                + "B=\(Self.batch) T=\(Self.tokens)",
            timing: "median of forwards after one warm-up, \(options.seconds) s per row, at least 3 runs",
            model: path, options: options, extraColumns: Self.rateColumns)

        var rng = SplitMix64(seed: 42)
        for type in [DType.f32, .bf16] where options.includes(dtype: type) {
            Self.resetPeakRSS()
            options.log("prefill \(type.rawValue): loading \(path)")
            let seconds: Double
            let flopsPerToken: Double
            do {
                let loaded = try ModelLoader.load(path, matrixType: type, keepQuantizedBlocks: false)
                let model = loaded.model
                flopsPerToken = Double(2 * PromptTuningStepBench.frozenMatrixParameters(model))
                let ids = (0..<(Self.batch * Self.tokens)).map { _ in
                    Int32(rng.next() % UInt64(model.vocabularySize))
                }
                let batch = TokenBatch(batchSize: Self.batch, length: Self.tokens, ids: ids)
                let tape = Tape(recording: false)
                options.log("prefill \(type.rawValue): timing")
                var timer = BenchTimer(seconds: options.seconds)
                timer.warmups = 1
                seconds = timer.measure([{
                    let (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: nil, cache: nil)
                    _ = model.logits(hidden, tape: tape)
                }])[0].median
            }
            var row = BenchReport.Row(id: type.rawValue, labels: [type.rawValue, "\(Self.batch)×\(Self.tokens)"])
            row.values["ours"] = Double(Self.batch * Self.tokens) / seconds
            row.values["ours_ms"] = seconds * 1e3
            if let peak = ProcessMemory.peakResidentBytes { row.values["ours_rss"] = Double(peak) / 1_048_576 }
            row.values["ours_gflops"] = Double(Self.batch * Self.tokens) * flopsPerToken / seconds / 1e9
            Self.addPeakShare(&row, &report, type: type, flopsPerToken: flopsPerToken, options: options)
            report.rows.append(row)
        }
        report.takeHeadline()
        return report
    }

    /// The report of a job with one row per weight storage (`f32`, `bf16`): our tokens/s,
    /// milliseconds and peak RSS next to PyTorch's, with `extraColumns` (ours only) last.
    static func throughputReport(job: String, unit: String, summary: String, timing: String, model: String,
                                 options: BenchOptions, extraColumns: [BenchReport.Column] = []) -> BenchReport {
        var report = BenchReport(
            job: job, unit: unit, summary: summary, machine: BenchMachine.describe(),
            settings: ["timing": timing, "model": model],
            labelTitles: ["weights", "B×T"],
            columns: [.init(key: "ours", title: "ours tok/s"), .init(key: "torch", title: "torch tok/s"),
                      .init(key: "ours_ms", title: "ours ms"), .init(key: "torch_ms", title: "torch ms"),
                      .init(key: "ours_rss", title: "ours RSS MiB"), .init(key: "torch_rss", title: "torch RSS MiB")]
                + extraColumns,
            ratios: [.init(key: "ours_torch", title: "ours/torch", numerator: "ours", denominator: "torch"),
                     .init(key: "rss_ratio", title: "RSS ours/torch", numerator: "ours_rss", denominator: "torch_rss")]
                + peakRatios,
            layout: ["ours", "torch", "ours_torch", "ours_ms", "torch_ms", "ours_rss", "torch_rss", "rss_ratio"]
                + extraColumns.map(\.key) + peakRatios.map(\.key),
            rows: [], total: nil)
        if let only = options.only { report.settings["only"] = only }
        report.notes.append("RSS: VmHWM of this process, reset before each row (after the previous model is freed "
                            + "and the cached tensor blocks unmapped); "
                            + "torch: ru_maxrss of a fresh process per row")
        return report
    }

    /// Achieved GFLOP/s, ours and PyTorch's (from its tokens/s and the same FLOP count),
    /// and the GEMM peak measured in the same run.
    static var rateColumns: [BenchReport.Column] {
        [.init(key: "ours_gflops", title: "ours GFLOP/s"), .init(key: "torch_gflops", title: "torch GFLOP/s"),
         .init(key: "gemm_peak", title: "GEMM peak GFLOP/s")]
    }

    /// Ratios of the achieved rates over the GEMM peak.
    static let peakRatios: [BenchReport.Ratio] = [
        .init(key: "ours_peak", title: "ours/peak", numerator: "ours_gflops", denominator: "gemm_peak"),
        .init(key: "torch_peak", title: "torch/peak", numerator: "torch_gflops", denominator: "gemm_peak"),
    ]

    /// Measures the best GEMM rate of `type` (``GEMMBench/peakRate(_:seconds:)``) into the
    /// row, with the FLOPs per token that turn PyTorch's tokens/s into its GFLOP/s.
    static func addPeakShare(_ row: inout BenchReport.Row, _ report: inout BenchReport, type: DType,
                             flopsPerToken: Double, options: BenchOptions) {
        options.log("\(report.job) \(type.rawValue): measuring the GEMM peak")
        let peak = GEMMBench.peakRate(type, seconds: 0.2)
        row.values["gemm_peak"] = peak.gflops
        row.values["gflop_per_token"] = flopsPerToken / 1e9
        report.notes.append(String(format: "%@ GEMM peak: %.0f GFLOP/s (%@; the fastest of the step's products, "
                                   + "this run)", type.rawValue, peak.gflops, peak.shape))
    }

    /// `--model`, or the cached SmolLM2-135M-Instruct (with a hint when it is missing).
    static func modelPath(_ options: BenchOptions) throws -> String {
        if let model = options.model { return model }
        let path = AssetCache.path("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else {
            throw BenchError.missingModel(path: path)
        }
        return path
    }

    /// Resets `VmHWM` to the current RSS (Linux ≥ 4.0: writing 5 to `clear_refs`), after
    /// unmapping the tensor blocks the previous row left cached, so that each row starts
    /// as a fresh process would.
    static func resetPeakRSS() {
        BlockCache.releaseAll()
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }
}
