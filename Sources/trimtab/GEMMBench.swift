import CDNNL
import COpenBLAS
import Foundation
import TrimtabTensor

/// `trimtab bench --job gemm`: GFLOP/s of the matrix products of one training step.
///
/// The shapes are SmolLM2-135M's (hidden 576, key/value width 192, FFN 1536, vocabulary
/// 49152, 30 layers) on a batch of B·T = 1024 rows. For every distinct linear layer it
/// times the three products a training step runs, with the step's `beta`:
///
///     forward  y[1024, N]  = x[1024, K] · W[N, K]ᵀ        (transB, beta 0)
///     dx       dx[1024, K] += dy[1024, N] · W[N, K]       (beta 1)
///     dW       dW[N, K]    += dy[1024, N]ᵀ · x[1024, K]   (transA, beta 1)
///
/// Variants, on the same buffers: ``GEMM/sgemm(_:alpha:a:b:beta:c:)`` on ``DNNLBackend``
/// (the wrapper), the same oneDNN matmul called raw (``RawDNNLMatmul``), OpenBLAS
/// `cblas_sgemm`, and the bf16 wrapper and raw call (inputs converted once, outside the
/// timed loop). Each wrapper is timed round-robin with its raw call. The total row weights
/// each case by how often a step runs it (30 layers; q/o, k/v and gate/up share shapes).
struct GEMMBench: BenchJob {
    static let name = "gemm"
    static let summary = "GFLOP/s of a 135M model's training-step matrix products: "
        + "GEMM wrapper vs raw oneDNN vs OpenBLAS, f32 and bf16"

    /// One linear layer's weight shape and how many such products a step runs.
    struct Layer {
        var id: String
        var title: String
        /// N: rows of the weight, columns of y.
        var outFeatures: Int
        /// K: columns of the weight, columns of x.
        var inFeatures: Int
        var perStep: Int
    }

    /// Which of the three products of a linear layer.
    enum Product: String, CaseIterable {
        case forward, dx, dW

        var title: String {
            switch self {
            case .forward: return "fwd y=x·Wᵀ"
            case .dx: return "dx=dy·W"
            case .dW: return "dW=dyᵀ·x"
            }
        }

        /// The product's shape for `rows` activations and a `[N, K]` weight.
        func shape(rows: Int, layer: Layer) -> GEMMShape {
            let n = layer.outFeatures, k = layer.inFeatures
            switch self {
            case .forward: return GEMMShape(transB: true, m: rows, n: n, k: k)
            case .dx: return GEMMShape(m: rows, n: k, k: n)
            case .dW: return GEMMShape(transA: true, m: n, n: k, k: rows)
            }
        }

        /// Forward overwrites, gradients accumulate (as in `Tape.linear`).
        var beta: Float { self == .forward ? 0 : 1 }
    }

    /// B·T of the benchmarked step.
    static let rows = 1024
    static let layerCount = 30
    static let layers = [
        Layer(id: "attn.qo", title: "attn q,o", outFeatures: 576, inFeatures: 576, perStep: 2 * layerCount),
        Layer(id: "attn.kv", title: "attn k,v", outFeatures: 192, inFeatures: 576, perStep: 2 * layerCount),
        Layer(id: "mlp.gate_up", title: "mlp gate,up", outFeatures: 1536, inFeatures: 576, perStep: 2 * layerCount),
        Layer(id: "mlp.down", title: "mlp down", outFeatures: 576, inFeatures: 1536, perStep: layerCount),
        Layer(id: "lm_head", title: "lm_head", outFeatures: 49152, inFeatures: 576, perStep: 1),
    ]

    /// Timed variants, in column order.
    enum Variant: String, CaseIterable {
        case wrapperF32 = "wrapper_f32"
        case rawF32 = "raw_f32"
        case openblasF32 = "openblas_f32"
        case wrapperBF16 = "wrapper_bf16"
        case rawBF16 = "raw_bf16"

        var title: String {
            switch self {
            case .wrapperF32: return "dnnl f32"
            case .rawF32: return "raw f32"
            case .openblasF32: return "openblas f32"
            case .wrapperBF16: return "dnnl bf16"
            case .rawBF16: return "raw bf16"
            }
        }

        var isBF16: Bool { self == .wrapperBF16 || self == .rawBF16 }

        /// Variants timed round-robin together: each wrapper with its raw call.
        static let timingGroups: [[Variant]] = [[.wrapperF32, .rawF32], [.openblasF32], [.wrapperBF16, .rawBF16]]
    }

    func run(_ options: BenchOptions) throws -> BenchReport {
        GEMM.backend = GEMM.makeBackend(named: "dnnl")
        openblas_set_num_threads(Int32(Parallel.threadCount))
        var report = emptyReport(options)
        var kernels: [String: [String]] = [:]
        let timer = BenchTimer(seconds: options.seconds)
        for layer in Self.layers {
            let products = Product.allCases.filter { options.includes("\(layer.id)/\($0.rawValue)") }
            if products.isEmpty { continue }
            let buffers = Buffers(rows: Self.rows, layer: layer)
            for product in products {
                let id = "\(layer.id)/\(product.rawValue)"
                let shape = product.shape(rows: Self.rows, layer: layer)
                options.log("gemm \(id): \(shape.m)×\(shape.n)×\(shape.k)")
                let measured = measure(product, shape: shape, buffers: buffers, timer: timer)
                var row = BenchReport.Row(id: id, labels: [layer.title, product.title,
                                                          "\(shape.m)×\(shape.n)×\(shape.k)"])
                row.params = ["m": shape.m, "n": shape.n, "k": shape.k,
                              "transA": shape.transA ? 1 : 0, "transB": shape.transB ? 1 : 0,
                              "beta": Int(product.beta)]
                row.work = shape.flops / 1e9
                row.weight = Double(layer.perStep)
                for (variant, sample) in measured.samples {
                    row.values[variant.rawValue] = shape.flops / sample.median / 1e9
                    row.values[variant.rawValue + "_best"] = shape.flops / sample.best / 1e9
                }
                report.rows.append(row)
                for (precision, name) in measured.kernels { kernels["\(precision) \(name)", default: []].append(id) }
                report.notes.append(contentsOf: measured.mismatches.map { "\(id): \($0)" })
            }
        }
        if options.includes("overhead") {
            options.log("gemm overhead: 16×16×16")
            report.notes.append(callOverhead(seconds: min(options.seconds, 0.5)))
        }
        for (kernel, ids) in kernels.sorted(by: { $0.key < $1.key }) {
            let cases = ids.count == report.rows.count ? "all cases" : ids.joined(separator: ", ")
            report.notes.append("oneDNN \(kernel): \(cases)")
        }
        return report
    }

    /// The report's header and column layout, before any row is measured.
    private func emptyReport(_ options: BenchOptions) -> BenchReport {
        var machine = BenchMachine.describe()
        machine["wrapper backend"] = GEMM.backend.name
        var report = BenchReport(
            job: Self.name, unit: "GFLOP/s (higher is better; ratios: wrapper over raw oneDNN, ours over PyTorch)",
            summary: "matrix products of one SmolLM2-135M training step, B·T = \(Self.rows)",
            machine: machine,
            settings: ["timing": "median of round-robin timed runs after warm-up, "
                        + "\(options.seconds) s per case, at least 3 runs"],
            labelTitles: ["layer", "product", "M×N×K"],
            columns: Variant.allCases.map { .init(key: $0.rawValue, title: $0.title) } + [
                .init(key: "torch_f32", title: "torch f32"),
                .init(key: "torch_bf16", title: "torch bf16"),
            ] + Variant.allCases.map { .init(key: $0.rawValue + "_best", title: $0.title + " best") },
            ratios: [
                .init(key: "wrapper_raw_f32", title: "wrap/raw", numerator: "wrapper_f32", denominator: "raw_f32"),
                .init(key: "wrapper_raw_bf16", title: "wrap/raw", numerator: "wrapper_bf16", denominator: "raw_bf16"),
                // Fastest call instead of median: JSON only, for when the machine is busy.
                .init(key: "wrapper_raw_f32_best", title: "wrap/raw best", numerator: "wrapper_f32_best",
                      denominator: "raw_f32_best"),
                .init(key: "wrapper_raw_bf16_best", title: "wrap/raw best", numerator: "wrapper_bf16_best",
                      denominator: "raw_bf16_best"),
                .init(key: "wrapper_torch_f32", title: "f32/torch", numerator: "wrapper_f32", denominator: "torch_f32"),
                .init(key: "wrapper_torch_bf16", title: "bf16/torch", numerator: "wrapper_bf16",
                      denominator: "torch_bf16"),
            ],
            layout: ["wrapper_f32", "raw_f32", "wrapper_raw_f32", "openblas_f32",
                     "wrapper_bf16", "raw_bf16", "wrapper_raw_bf16",
                     "torch_f32", "torch_bf16", "wrapper_torch_f32", "wrapper_torch_bf16"],
            rows: [],
            total: .init(id: "step", labels: ["step total", "\(Self.layerCount) layers + lm_head", "fwd+dx+dW"])
        )
        if let only = options.only { report.settings["only"] = only }
        return report
    }

    /// Times every variant of one product; also checks once that all variants agree.
    private func measure(_ product: Product, shape: GEMMShape, buffers: Buffers, timer: BenchTimer)
        -> (samples: [(Variant, BenchTimer.Sample)], kernels: [(String, String)], mismatches: [String]) {
        let (a32, b32, ah, bh) = buffers.operands(for: product)
        let c = buffers.output(for: product)
        let beta = product.beta
        let rawF32 = RawDNNLMatmul(shape, alpha: 1, beta: beta, bf16: false, a: a32, b: b32, c: c)
        let rawBF16 = RawDNNLMatmul(shape, alpha: 1, beta: beta, bf16: true, a: ah, b: bh, c: c)
        let calls: [Variant: () -> Void] = [
            .wrapperF32: { GEMM.sgemm(shape, a: a32, b: b32, beta: beta, c: c) },
            .rawF32: { rawF32.execute() },
            .openblasF32: {
                cblas_sgemm(CblasRowMajor, shape.transA ? CblasTrans : CblasNoTrans,
                            shape.transB ? CblasTrans : CblasNoTrans,
                            Int32(shape.m), Int32(shape.n), Int32(shape.k), 1,
                            a32, Int32(shape.lda), b32, Int32(shape.ldb), beta, c, Int32(shape.ldc))
            },
            .wrapperBF16: { GEMM.gemmBF16(shape, a: ah, b: bh, beta: beta, c: c) },
            .rawBF16: { rawBF16.execute() },
        ]
        let variants = Variant.allCases

        // One call each from a zeroed C (so beta = 1 gives the bare product), sampled.
        let count = shape.m * shape.n
        let step = max(1, count / 4096)
        var samples: [Variant: [Float]] = [:]
        for variant in variants {
            c.update(repeating: 0, count: count)
            calls[variant]!()
            samples[variant] = stride(from: 0, to: count, by: step).map { c[$0] }
        }
        var mismatches: [String] = []
        for variant in variants where variant != .wrapperF32 && variant != .wrapperBF16 {
            let reference = samples[variant.isBF16 ? .wrapperBF16 : .wrapperF32]!
            let scale = max(1, reference.map(abs).max() ?? 0)
            let worst = zip(samples[variant]!, reference).map { abs($0 - $1) }.max() ?? 0
            if worst / scale > 1e-4 || worst.isNaN {
                mismatches.append("\(variant.title) differs from the wrapper by \(worst) (scale \(scale))")
            }
        }

        // oneDNN (OpenMP) and OpenBLAS (pthreads) keep their idle workers spinning for a
        // while after a call; interleaving the two would make each pay for the other's
        // spinning on a 2-core machine. So only variants sharing a thread pool alternate.
        var timed: [(Variant, BenchTimer.Sample)] = []
        for group in Variant.timingGroups {
            var share = timer
            share.seconds = timer.seconds * Double(group.count) / Double(variants.count)
            timed += zip(group, share.measure(group.map { calls[$0]! }))
        }
        return (timed,
                [("f32", rawF32.implementation), ("bf16", rawBF16.implementation)],
                mismatches)
    }
}

extension GEMMBench {
    /// Time per call of a tiny f32 product, where the wrapper's fixed cost (backend
    /// lookup, cache lookup, locking, rebinding handles) is most of the call.
    private func callOverhead(seconds: Double) -> String {
        let size = 16
        let shape = GEMMShape(transB: true, m: size, n: size, k: size)
        let a = Tensor(zeros: [size, size]), b = Tensor(zeros: [size, size]), c = Tensor(zeros: [size, size])
        a.fill(0.5)
        b.fill(0.25)
        let raw = RawDNNLMatmul(shape, alpha: 1, beta: 0, bf16: false, a: a.floats, b: b.floats, c: c.floats)
        var timer = BenchTimer(seconds: seconds)
        timer.warmups = 100
        timer.maxRuns = 50_000
        let timed = timer.measure([
            { GEMM.sgemm(shape, a: a.floats, b: b.floats, c: c.floats) },
            { raw.execute() },
        ])
        let wrapper = timed[0].median * 1e6, direct = timed[1].median * 1e6
        return String(format: "per-call time at %d×%d×%d f32: wrapper %.2f µs, raw oneDNN %.2f µs "
                      + "(wrapper overhead %.2f µs per call, %d calls each)",
                      size, size, size, wrapper, direct, wrapper - direct, timed[0].runs)
    }

    /// A layer's operands (random, f32 and bf16) and outputs, shared by its products.
    final class Buffers {
        /// `[rows, K]`
        let x: Tensor
        /// `[N, K]`
        let weight: Tensor
        /// `[rows, N]`
        let dy: Tensor
        let xHalf: Tensor, weightHalf: Tensor, dyHalf: Tensor
        /// `[rows, N]`, `[rows, K]`, `[N, K]`
        let y: Tensor, dx: Tensor, dWeight: Tensor

        init(rows: Int, layer: Layer) {
            let n = layer.outFeatures, k = layer.inFeatures
            var rng = SplitMix64(seed: UInt64(n * 100_003 + k))
            func random(_ shape: [Int], scale: Float) -> Tensor {
                let tensor = Tensor(zeros: shape)
                let p = tensor.floats
                for i in 0..<tensor.count { p[i] = (rng.nextFloat() * 2 - 1) * scale }
                return tensor
            }
            x = random([rows, k], scale: 1)
            weight = random([n, k], scale: 1 / Float(k).squareRoot())
            dy = random([rows, n], scale: 1 / Float(rows))
            xHalf = x.converted(to: .bf16)
            weightHalf = weight.converted(to: .bf16)
            dyHalf = dy.converted(to: .bf16)
            y = Tensor(zeros: [rows, n])
            dx = Tensor(zeros: [rows, k])
            dWeight = Tensor(zeros: [n, k])
        }

        /// A and B of `product`, in f32 and bf16.
        func operands(for product: Product)
            -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                UnsafeMutablePointer<UInt16>, UnsafeMutablePointer<UInt16>) {
            switch product {
            case .forward: return (x.floats, weight.floats, xHalf.halves, weightHalf.halves)
            case .dx: return (dy.floats, weight.floats, dyHalf.halves, weightHalf.halves)
            case .dW: return (dy.floats, x.floats, dyHalf.halves, xHalf.halves)
            }
        }

        /// C of `product`.
        func output(for product: Product) -> UnsafeMutablePointer<Float> {
            switch product {
            case .forward: return y.floats
            case .dx: return dx.floats
            case .dW: return dWeight.floats
            }
        }
    }
}

extension GEMMBench {
    /// The best rate (median GFLOP/s of the fastest shape) the wrapper reaches on the
    /// products of a SmolLM2-135M training step, in f32 (`GEMM.sgemm`) or bf16
    /// (`GEMM.gemmBF16`): the yardstick the model jobs divide their achieved rate by, so
    /// "share of the GEMM peak" comes from the same run on the same machine.
    static func peakRate(_ type: DType, seconds: Double) -> (gflops: Double, shape: String) {
        var best = (gflops: 0.0, shape: "")
        let timer = BenchTimer(seconds: seconds)
        for layer in layers {
            let buffers = Buffers(rows: rows, layer: layer)
            for product in Product.allCases {
                let shape = product.shape(rows: rows, layer: layer)
                let (a32, b32, ah, bh) = buffers.operands(for: product)
                let c = buffers.output(for: product)
                let call: () -> Void = type == .bf16
                    ? { GEMM.gemmBF16(shape, a: ah, b: bh, beta: product.beta, c: c) }
                    : { GEMM.sgemm(shape, a: a32, b: b32, beta: product.beta, c: c) }
                let rate = shape.flops / timer.measure([call])[0].median / 1e9
                if rate > best.gflops { best = (rate, "\(layer.title) \(product.rawValue) \(shape.m)×\(shape.n)×\(shape.k)") }
            }
        }
        return best
    }
}
