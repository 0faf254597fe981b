import Foundation
import TrimtabTensor

/// `trimtab bench --job kernels`: GB/s and time of every fused kernel, forward and backward.
///
/// Shapes are a SmolLM2-135M training step on B = 8, T = 128 (N = B·T = 1024 rows, hidden
/// C = 576, 9 query / 3 key-value heads of D = 64, FFN 1536, vocabulary 49152). Each op
/// runs through the public `Tape` API:
///
///     forward   Tape(recording: false), the op            (timed)
///     backward  Tape(recording: true), the op              (untimed)
///               tape.backward(from: y, gradient: seed)     (timed)
///
/// Bandwidth counts every tensor an op reads once plus every tensor it writes once;
/// gradients accumulate (`+=`), so an input gradient counts as read and written. It is a
/// yardstick for memory-bound kernels, not a measured DRAM rate (attention is compute
/// bound; its time column matters more). `scripts/bench/torch_kernels.py` times the same
/// ops with `torch.nn.functional` under the same row ids and byte counts.
struct KernelBench: BenchJob {
    static let name = "kernels"
    static let summary = "GB/s and µs of every fused kernel (norms, rope, attention, activations, "
        + "softmax, cross-entropy, elementwise, embedding, concat, dropout), forward and backward"

    static let batch = 8, tokens = 128, hidden = 576, heads = 9, kvHeads = 3, headDim = 64
    static let ffn = 1536, vocabulary = 49152, prefix = 20
    static var rows: Int { batch * tokens }

    /// One op at one shape: how to build it, and the bytes it moves.
    struct Case {
        var id: String
        var title: String
        var shape: String
        /// Bytes read plus written by the forward and by the backward.
        var forwardBytes: Double
        var backwardBytes: Double
        /// Builds inputs (requiring gradients) once and returns the op applied to them.
        var make: () -> (Tape) -> Variable
    }

    func run(_ options: BenchOptions) throws -> BenchReport {
        var report = emptyReport(options)
        for benchCase in Self.cases() {
            let ids = ["forward", "backward"].map { "\(benchCase.id)/\($0)" }
            guard ids.contains(where: { options.includes($0) }) else { continue }
            options.log("kernels \(benchCase.id): \(benchCase.shape)")
            let op = benchCase.make()
            for (pass, id) in zip(["forward", "backward"], ids) where options.includes(id) {
                let seconds = pass == "forward"
                    ? Self.timeForward(op, seconds: options.seconds)
                    : Self.timeBackward(op, seconds: options.seconds)
                let bytes = pass == "forward" ? benchCase.forwardBytes : benchCase.backwardBytes
                var row = BenchReport.Row(id: id, labels: [benchCase.title, pass, benchCase.shape])
                row.work = bytes / 1e9
                row.values["ours"] = bytes / seconds / 1e9
                row.values["ours_us"] = seconds * 1e6
                report.rows.append(row)
            }
        }
        return report
    }

    private func emptyReport(_ options: BenchOptions) -> BenchReport {
        var report = BenchReport(
            job: Self.name,
            unit: "GB/s of bytes read + written (higher is better), µs per call (lower is better); "
                + "ratio = ours over PyTorch in GB/s, i.e. torch time / our time",
            summary: "fused kernels at SmolLM2-135M shapes, B=\(Self.batch) T=\(Self.tokens) C=\(Self.hidden)",
            machine: BenchMachine.describe(),
            settings: ["timing": "median per call after warm-up, \(options.seconds) s per case; backward times "
                        + "tape.backward only (the recorded forward before it is untimed)"],
            labelTitles: ["op", "pass", "shape"],
            columns: [.init(key: "ours", title: "ours GB/s"), .init(key: "torch", title: "torch GB/s"),
                      .init(key: "ours_us", title: "ours µs"), .init(key: "torch_us", title: "torch µs")],
            ratios: [.init(key: "ours_torch", title: "ours/torch", numerator: "ours", denominator: "torch")],
            layout: ["ours", "torch", "ours_torch", "ours_us", "torch_us"],
            rows: [],
            total: nil)
        if let only = options.only { report.settings["only"] = only }
        report.notes.append("bytes: every tensor read once + every tensor written once, f32; accumulated "
                            + "gradients count twice. torch's embedding backward builds a dense [V, C] "
                            + "gradient; ours scatter-adds into the touched rows (bytes counted as ours).")
        return report
    }

    // MARK: - Timing

    /// Median seconds of a non-recording forward.
    static func timeForward(_ op: (Tape) -> Variable, seconds: Double) -> Double {
        let tape = Tape(recording: false)
        return medianTime(seconds: seconds, setup: {}, body: { _ = op(tape) })
    }

    /// Median seconds of `tape.backward` after an untimed recorded forward.
    static func timeBackward(_ op: (Tape) -> Variable, seconds: Double) -> Double {
        let tape = Tape(recording: true)
        var out: Variable?
        var seed: Tensor?
        return medianTime(seconds: seconds, setup: {
            let y = op(tape)
            if seed == nil {
                let s = Tensor(zeros: y.shape)
                var rng = SplitMix64(seed: 7)
                for i in 0..<s.count { s.floats[i] = rng.nextFloat() - 0.5 }
                seed = s
            }
            out = y
        }, body: {
            tape.backward(from: out!, gradient: seed)
        })
    }

    /// Two untimed warm-ups, then timed calls until `seconds` of timed work (3 … 2000).
    static func medianTime(seconds: Double, setup: () -> Void, body: () -> Void) -> Double {
        for _ in 0..<2 { setup(); body() }
        var times: [Double] = []
        var spent = 0.0
        while times.count < 2000 && (times.count < 3 || spent < seconds) {
            setup()
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            times.append(elapsed)
            spent += elapsed
        }
        times.sort()
        let mid = times.count / 2
        return times.count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2
    }

    // MARK: - Cases

    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1, grad: Bool = true) -> Variable {
        let tensor = Tensor(zeros: shape)
        var rng = SplitMix64(seed: seed)
        for i in 0..<tensor.count { tensor.floats[i] = (rng.nextFloat() * 2 - 1) * scale }
        return Variable(tensor, requiresGrad: grad)
    }

    /// Every case, in table order. Byte counts are in f32 elements × 4.
    static func cases() -> [Case] {
        let n = rows, c = hidden, f = ffn, b = batch, t = tokens
        let q = n * heads * headDim, kv = n * kvHeads * headDim
        let bytes = { (elements: Int) in Double(elements) * 4 }
        var list: [Case] = []

        list.append(Case(id: "rmsnorm", title: "rmsNorm", shape: "[\(n),\(c)]",
                         forwardBytes: bytes(2 * n * c + c), backwardBytes: bytes(4 * n * c + 3 * c)) {
            let x = random([n, c], seed: 1), w = random([c], seed: 2)
            return { tape in tape.rmsNorm(x, weight: w, eps: 1e-5) }
        })
        list.append(Case(id: "layernorm", title: "layerNorm", shape: "[\(n),\(c)]",
                         forwardBytes: bytes(2 * n * c + 2 * c), backwardBytes: bytes(4 * n * c + 6 * c)) {
            let x = random([n, c], seed: 3), w = random([c], seed: 4), bias = random([c], seed: 5)
            return { tape in tape.layerNorm(x, weight: w, bias: bias, eps: 1e-5) }
        })
        list.append(Case(id: "rope", title: "rope q", shape: "[\(b),\(t),\(heads),\(headDim)]",
                         forwardBytes: bytes(2 * q), backwardBytes: bytes(3 * q)) {
            let x = random([b, t, heads, headDim], seed: 6)
            let table = RoPETable(headDim: headDim, base: 100_000, maxPositions: 2048)
            let positions = (0..<n).map { Int32($0 % t) }
            return { tape in tape.rope(x, table: table, positions: positions, layout: .rotateHalf) }
        })
        for withPrefix in [false, true] {
            let p = withPrefix ? prefix : 0
            let pkv = b * p * kvHeads * headDim
            list.append(Case(id: withPrefix ? "attention_prefix" : "attention",
                             title: withPrefix ? "attention +\(p) prefix" : "attention",
                             shape: "q[\(b),\(t),\(heads),\(headDim)] kv[\(b),\(t),\(kvHeads),\(headDim)]",
                             forwardBytes: bytes(2 * q + 2 * kv + 2 * pkv),
                             backwardBytes: bytes(4 * q + 6 * kv + 6 * pkv)) {
                let query = random([b, t, heads, headDim], seed: 7)
                let key = random([b, t, kvHeads, headDim], seed: 8)
                let value = random([b, t, kvHeads, headDim], seed: 9)
                var options = AttentionOptions(causal: true)
                if withPrefix {
                    options.prefixKey = random([b, p, kvHeads, headDim], seed: 10)
                    options.prefixValue = random([b, p, kvHeads, headDim], seed: 11)
                }
                return { tape in tape.attention(query: query, key: key, value: value, options: options) }
            })
        }
        list.append(Case(id: "silu", title: "silu", shape: "[\(n),\(f)]",
                         forwardBytes: bytes(2 * n * f), backwardBytes: bytes(4 * n * f)) {
            let x = random([n, f], seed: 12, scale: 4)
            return { tape in tape.silu(x) }
        })
        list.append(Case(id: "gelu", title: "gelu (erf)", shape: "[\(n),\(f)]",
                         forwardBytes: bytes(2 * n * f), backwardBytes: bytes(4 * n * f)) {
            let x = random([n, f], seed: 13, scale: 4)
            return { tape in tape.gelu(x) }
        })
        list.append(Case(id: "swiglu", title: "swiglu", shape: "2×[\(n),\(f)]",
                         forwardBytes: bytes(3 * n * f), backwardBytes: bytes(7 * n * f)) {
            let gate = random([n, f], seed: 14, scale: 4), up = random([n, f], seed: 15)
            return { tape in tape.swiglu(gate: gate, up: up) }
        })
        let scores = b * heads * t
        list.append(Case(id: "softmax", title: "softmax", shape: "[\(scores),\(t)]",
                         forwardBytes: bytes(2 * scores * t), backwardBytes: bytes(4 * scores * t)) {
            let x = random([scores, t], seed: 16, scale: 4)
            return { tape in tape.softmax(x) }
        })
        list.append(Case(id: "cross_entropy", title: "crossEntropy", shape: "[\(n),\(vocabulary)]",
                         forwardBytes: bytes(n * vocabulary + n), backwardBytes: bytes(3 * n * vocabulary + n)) {
            let logits = random([n, vocabulary], seed: 17, scale: 4)
            var rng = SplitMix64(seed: 18)
            let targets = (0..<n).map { _ in Int32(rng.next() % UInt64(vocabulary)) }
            return { tape in tape.crossEntropy(logits, targets: targets) }
        })
        list.append(Case(id: "add", title: "add", shape: "2×[\(n),\(c)]",
                         forwardBytes: bytes(3 * n * c), backwardBytes: bytes(5 * n * c)) {
            let x = random([n, c], seed: 19), y = random([n, c], seed: 20)
            return { tape in tape.add(x, y) }
        })
        list.append(Case(id: "add_bias", title: "addBias", shape: "[\(n),\(f)]+[\(f)]",
                         forwardBytes: bytes(2 * n * f + f), backwardBytes: bytes(3 * n * f + 2 * f)) {
            let x = random([n, f], seed: 21), bias = random([f], seed: 22)
            return { tape in tape.addBias(x, bias) }
        })
        list.append(Case(id: "mul", title: "mul", shape: "2×[\(n),\(c)]",
                         forwardBytes: bytes(3 * n * c), backwardBytes: bytes(7 * n * c)) {
            let x = random([n, c], seed: 23), y = random([n, c], seed: 24)
            return { tape in tape.mul(x, y) }
        })
        list.append(Case(id: "embedding", title: "embedding", shape: "[\(vocabulary),\(c)][\(n) ids]",
                         forwardBytes: bytes(2 * n * c + n), backwardBytes: bytes(3 * n * c + n)) {
            let table = random([vocabulary, c], seed: 25, scale: 0.1)
            var rng = SplitMix64(seed: 26)
            let ids = (0..<n).map { _ in Int32(rng.next() % UInt64(vocabulary)) }
            return { tape in tape.embedding(table, ids: ids, shape: [b, t]) }
        })
        list.append(Case(id: "concat_sequence", title: "concatSequence", shape: "[1,\(prefix),\(c)]+[\(b),\(t),\(c)]",
                         forwardBytes: bytes(2 * (b * prefix + n) * c),
                         backwardBytes: bytes(b * prefix * c + 2 * prefix * c + 3 * n * c)) {
            let soft = random([1, prefix, c], seed: 27), x = random([b, t, c], seed: 28)
            return { tape in tape.concatSequence([soft, x]) }
        })
        list.append(Case(id: "dropout", title: "dropout p=0.1", shape: "[\(n),\(f)]",
                         forwardBytes: bytes(2 * n * f), backwardBytes: bytes(3 * n * f)) {
            let x = random([n, f], seed: 29)
            var step: UInt64 = 0
            return { tape in
                step &+= 1
                return tape.dropout(x, probability: 0.1, seed: step)
            }
        })
        return list
    }
}
