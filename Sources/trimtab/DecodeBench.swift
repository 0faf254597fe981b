import Foundation
import TrimtabModels
import TrimtabTensor

/// `trimtab bench --job decode`: greedy generation speed at batch 1.
///
/// `Generator.generate` runs a fixed 16-token prompt and exactly 128 new tokens (no stop
/// tokens) with greedy sampling, with f32 and then bf16 weight matrices. The decode time
/// is measured from the first generated token to the last one through the `onToken`
/// callback, so it covers 127 steps of (one-token forward with the KV cache, logits,
/// argmax) and none of the prompt; `first token ms` is the prompt's forward plus the first
/// logits. `scripts/bench/torch_decode.py` times
/// transformers' `generate` the same way through a streamer.
struct DecodeBench: BenchJob {
    static let name = "decode"
    static let summary = "greedy decode of 128 tokens at batch 1 after a 16-token prompt: tokens/s and ms/token"

    static let promptLength = 16, newTokens = 128
    static let promptText = "Write a short story about a lighthouse keeper who finds a message in a bottle on the beach."

    func run(_ options: BenchOptions) throws -> BenchReport {
        let path = try PrefillBench.modelPath(options)
        var report = BenchReport(
            job: Self.name,
            unit: "tokens/s (higher is better), ms per token and ms to the first token; "
                + "ratio = ours over PyTorch tokens/s",
            summary: "greedy decode of \(Self.newTokens) tokens after a \(Self.promptLength)-token prompt, batch 1, "
                + URL(fileURLWithPath: path).lastPathComponent,
            machine: BenchMachine.describe(),
            settings: ["timing": "median over generations (at least 3, \(options.seconds) s budget) of "
                        + "(last token time − first token time) / \(Self.newTokens - 1)",
                       "model": path],
            labelTitles: ["weights", "prompt+new"],
            columns: [.init(key: "ours", title: "ours tok/s"), .init(key: "torch", title: "torch tok/s"),
                      .init(key: "ours_ms", title: "ours ms/tok"), .init(key: "torch_ms", title: "torch ms/tok"),
                      .init(key: "ours_first_ms", title: "ours 1st ms"),
                      .init(key: "torch_first_ms", title: "torch 1st ms")],
            ratios: [.init(key: "ours_torch", title: "ours/torch", numerator: "ours", denominator: "torch")],
            layout: ["ours", "torch", "ours_torch", "ours_ms", "torch_ms", "ours_first_ms", "torch_first_ms"],
            rows: [], total: nil)
        if let only = options.only { report.settings["only"] = only }

        for type in [DType.f32, .bf16] where options.includes(type.rawValue) {
            options.log("decode \(type.rawValue): loading \(path)")
            let loaded = try ModelLoader.load(path, matrixType: type)
            let prompt = Self.prompt(loaded.tokenizer.encode(Self.promptText, addSpecialTokens: false))
            let generator = Generator(model: loaded.model)
            _ = generator.generate(prompt: prompt, maxTokens: 8)  // warm-up
            var perToken: [Double] = [], first: [Double] = []
            var spent = 0.0
            var output: [Int32] = []
            while perToken.count < 3 || spent < options.seconds {
                var stamps: [UInt64] = []
                stamps.reserveCapacity(Self.newTokens)
                let start = DispatchTime.now().uptimeNanoseconds
                let result = generator.generate(prompt: prompt, maxTokens: Self.newTokens) { _ in
                    stamps.append(DispatchTime.now().uptimeNanoseconds)
                    return true
                }
                precondition(stamps.count == Self.newTokens, "decode: generated \(stamps.count) tokens")
                output = result.tokens
                let decode = Double(stamps[stamps.count - 1] - stamps[0]) * 1e-9
                perToken.append(decode / Double(Self.newTokens - 1))
                first.append(Double(stamps[0] - start) * 1e-9)
                spent += Double(stamps[stamps.count - 1] - start) * 1e-9
                options.log(String(format: "decode %@: %.1f ms/token", type.rawValue, perToken.last! * 1e3))
            }
            let median = Self.median(perToken)
            var row = BenchReport.Row(id: type.rawValue, labels: [type.rawValue, "\(Self.promptLength)+\(Self.newTokens)"])
            row.values["ours"] = 1 / median
            row.values["ours_ms"] = median * 1e3
            row.values["ours_first_ms"] = Self.median(first) * 1e3
            report.rows.append(row)
            report.notes.append("\(type.rawValue) first tokens: \(output.prefix(12).map(String.init).joined(separator: " "))")
        }
        report.notes.append("prompt: the first \(Self.promptLength) ids of \"\(Self.promptText)\" (no special tokens)")
        return report
    }

    /// Exactly ``promptLength`` ids: the encoded text, cut or repeated.
    static func prompt(_ ids: [Int32]) -> [Int32] {
        guard !ids.isEmpty else { return [] }
        return (0..<promptLength).map { ids[$0 % ids.count] }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted(), mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
