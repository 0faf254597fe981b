import Foundation
import TrimtabModels
import TrimtabTensor
import TrimtabTrain

/// `trimtab bench --job decode` and `--job decode-batch8`: greedy generation speed.
///
/// `Generator` runs fixed 16-token prompts and exactly 128 new tokens (no stop tokens)
/// with greedy sampling, with f32 and then bf16 weight matrices, and then (row `gguf`)
/// multiplying from the GGUF's own quantised blocks (`ModelLoader.load(keepQuantizedBlocks:)`;
/// the f32 and bf16 rows load without them): one prompt for `decode`
/// (`Generator.generate(prompt:)`), eight different ones in one batch with one KV cache
/// for `decode-batch8` (`Generator.generate(prompts:)`, as the server batches requests).
/// The decode time is measured from the first generated token to the last one through
/// the `onToken` callback, so it covers 127 steps of (one-token forward per row with the
/// KV cache, logits, argmax) and none of the prompt; tokens/s counts every row's tokens;
/// `first token ms` is the prompt's forward plus the first logits.
/// `scripts/bench/torch_decode.py` (`--batch 8` for the batched job) times transformers'
/// `generate` the same way through a streamer.
protocol DecodeJob: BenchJob {
    /// Rows generated together.
    static var batch: Int { get }
}

struct DecodeBench: DecodeJob {
    static let name = "decode"
    static let summary = "greedy decode of 128 tokens at batch 1 after a 16-token prompt: tokens/s and ms/token"
    static let batch = 1
}

struct BatchDecodeBench: DecodeJob {
    static let name = "decode-batch8"
    static let summary = "greedy decode of 128 tokens for 8 prompts of 16 tokens in one batch: tokens/s and ms/step"
    static let batch = 8
}

extension DecodeJob {
    static var promptLength: Int { 16 }
    static var newTokens: Int { 128 }
    static var promptText: String {
        "Write a short story about a lighthouse keeper who finds a message in a bottle on the beach."
    }

    func run(_ options: BenchOptions) throws -> BenchReport {
        let path = try PrefillBench.modelPath(options)
        let rows = Self.batch
        var report = BenchReport(
            job: Self.name,
            unit: "tokens/s over all rows (higher is better), ms per decoding step, ms to the first token, "
                + "peak RSS in MiB; ratio = ours over PyTorch tokens/s",
            summary: "greedy decode of \(Self.newTokens) tokens after a \(Self.promptLength)-token prompt, batch \(rows), "
                + URL(fileURLWithPath: path).lastPathComponent,
            machine: BenchMachine.describe(),
            settings: ["timing": "median over generations (at least 3, \(options.seconds) s budget) of "
                        + "(last token time − first token time) / \(Self.newTokens - 1)",
                       "model": path],
            labelTitles: ["weights", "batch×(prompt+new)"],
            columns: [.init(key: "ours", title: "ours tok/s"), .init(key: "torch", title: "torch tok/s"),
                      .init(key: "ours_ms", title: "ours ms/step"), .init(key: "torch_ms", title: "torch ms/step"),
                      .init(key: "ours_first_ms", title: "ours 1st ms"),
                      .init(key: "torch_first_ms", title: "torch 1st ms"),
                      .init(key: "ours_rss", title: "ours RSS MiB"), .init(key: "torch_rss", title: "torch RSS MiB")],
            ratios: [.init(key: "ours_torch", title: "ours/torch", numerator: "ours", denominator: "torch")],
            layout: ["ours", "torch", "ours_torch", "ours_ms", "torch_ms", "ours_first_ms", "torch_first_ms",
                     "ours_rss", "torch_rss"],
            rows: [], total: nil)
        if let only = options.only { report.settings["only"] = only }

        let formats: [(id: String, matrices: DType, blocks: Bool)] = [("f32", .f32, false), ("bf16", .bf16, false),
                                                                      ("gguf", .f32, true)]
        for (id, type, blocks) in formats where options.includes(weights: id) {
            PrefillBench.resetPeakRSS()
            options.log("\(Self.name) \(id): loading \(path)")
            let loaded = try ModelLoader.load(path, matrixType: type, keepQuantizedBlocks: blocks)
            let ids = loaded.tokenizer.encode(Self.promptText, addSpecialTokens: false)
            let prompts = (0..<rows).map { Self.prompt(ids, offset: $0) }
            let generator = Generator(model: loaded.model)
            _ = generator.generate(prompts: prompts, maxTokens: 8)  // warm-up
            var perStep: [Double] = [], first: [Double] = []
            var spent = 0.0
            var output: [Int32] = []
            while perStep.count < 3 || spent < options.seconds {
                var stamps: [UInt64] = []
                stamps.reserveCapacity(Self.newTokens)
                let start = DispatchTime.now().uptimeNanoseconds
                let stamp: () -> Void = { stamps.append(DispatchTime.now().uptimeNanoseconds) }
                if rows == 1 {
                    output = generator.generate(prompt: prompts[0], maxTokens: Self.newTokens) { _ in
                        stamp()
                        return true
                    }.tokens
                } else {
                    // Every row produces a token per step; the step's time is row 0's.
                    output = generator.generate(prompts: prompts, maxTokens: Self.newTokens) { row, _ in
                        if row == 0 { stamp() }
                        return true
                    }[0].tokens
                }
                precondition(stamps.count == Self.newTokens, "decode: generated \(stamps.count) tokens")
                let decode = Double(stamps[stamps.count - 1] - stamps[0]) * 1e-9
                perStep.append(decode / Double(Self.newTokens - 1))
                first.append(Double(stamps[0] - start) * 1e-9)
                spent += Double(stamps[stamps.count - 1] - start) * 1e-9
                options.log(String(format: "%@ %@: %.1f ms/step", Self.name, id, perStep.last! * 1e3))
            }
            let median = BenchReport.median(perStep)
            var row = BenchReport.Row(id: id, labels: [id, "\(rows)×(\(Self.promptLength)+\(Self.newTokens))"])
            row.values["ours"] = Double(rows) / median
            row.values["ours_ms"] = median * 1e3
            row.values["ours_first_ms"] = BenchReport.median(first) * 1e3
            if let peak = ProcessMemory.peakResidentBytes { row.values["ours_rss"] = Double(peak) / 1_048_576 }
            report.rows.append(row)
            report.notes.append("\(id) first tokens of row 0: "
                                + output.prefix(12).map(String.init).joined(separator: " "))
        }
        report.notes.append("prompts: \(Self.promptLength) ids of \"\(Self.promptText)\" (no special tokens)"
                            + (rows > 1 ? ", row r starting at its r-th id" : ""))
        report.takeHeadline()
        return report
    }

    /// Exactly ``promptLength`` ids of the encoded text from `offset` on, wrapping around.
    static func prompt(_ ids: [Int32], offset: Int = 0) -> [Int32] {
        guard !ids.isEmpty else { return [] }
        return (0..<promptLength).map { ids[($0 + offset) % ids.count] }
    }
}
