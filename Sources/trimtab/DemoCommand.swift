import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabTensor

/// Trains a tiny byte-level Llama from scratch on a text file and samples from it: the
/// whole engine (embedding, RMSNorm, RoPE, grouped-query attention, SwiGLU, cross-entropy,
/// backward, AdamW, the KV-cache generator) in a minute on a laptop CPU.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train a tiny byte-level transformer on a text file and watch the loss fall."
    )

    @Option(help: "Text file to learn (default: hamlet.txt from the asset cache).")
    var data: String?
    @Option(help: "Training steps.")
    var steps = 300
    @Option(help: "Sequences per step.")
    var batchSize = 16
    @Option(help: "Bytes per sequence.")
    var length = 64
    @Option(help: "Peak learning rate (cosine schedule with warm-up).")
    var lr: Float = 3e-3
    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
        let path = data ?? AssetCache.path("data/hamlet.txt")
        guard let text = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path); run scripts/fetch-assets.sh or pass --data FILE")
        }
        let bytes = [UInt8](text)
        guard bytes.count > length + 1 else { throw ValidationError("\(path) is shorter than one sequence") }
        let config = LlamaConfiguration(vocabularySize: 256, hiddenSize: 96, intermediateSize: 256, layerCount: 2,
                                        headCount: 6, kvHeadCount: 2, rmsNormEps: 1e-5, ropeTheta: 10_000,
                                        maxPositions: 512, tieWordEmbeddings: true)
        let model = try LlamaModel(configuration: config, weights: LlamaModel.randomWeights(config, seed: seed),
                                   source: "demo", trainable: { _ in true })
        let params = model.parameters.keys.sorted().compactMap { model.parameters[$0] }
        let count = params.reduce(0) { $0 + $1.value.count }
        print("demo: byte-level Llama, \(config.layerCount) layers, hidden \(config.hiddenSize), "
              + "\(config.headCount) heads / \(config.kvHeadCount) kv heads, \(count) parameters")
        print("data: \(path) (\(bytes.count) bytes); \(steps) steps of \(batchSize)×\(length) bytes, "
              + "backend \(GEMM.backend.name), \(Parallel.threadCount) threads")

        let optimizer = try AdamW(parameters: params, learningRate: lr, weightDecay: 0.01)
        let schedule = LRSchedule.cosine(warmupSteps: steps / 10, totalSteps: steps)
        var rng = SplitMix64(seed: seed &+ 1)
        let tape = Tape()
        let start = Date()
        var first: Float = 0, last: Float = 0, recent: [Float] = []
        for step in 0..<steps {
            var rows: [[Int32]] = [], targets: [Int32] = []
            for _ in 0..<batchSize {
                let at = Int(rng.next() % UInt64(bytes.count - length - 1))
                rows.append(bytes[at..<(at + length)].map { Int32($0) })
                targets += bytes[(at + 1)...(at + length)].map { Int32($0) }
            }
            let (hidden, _) = model.hiddenStates(TokenBatch(rows: rows), tape: tape, hooks: nil, cache: nil)
            let logits = model.logits(tape.reshape(hidden, [batchSize * length, config.hiddenSize]), tape: tape)
            let loss = tape.crossEntropy(logits, targets: targets)
            optimizer.zeroGrad()
            tape.backward(from: loss)
            clipGradientNorm(params, maxNorm: 1)
            optimizer.learningRate = lr * schedule.multiplier(step: step)
            optimizer.step()
            let value = loss.value.floats[0]
            if step == 0 { first = value }
            recent.append(value)
            if (step + 1) % 25 == 0 || step == 0 {
                let mean = recent.reduce(0, +) / Float(recent.count)
                last = mean
                recent.removeAll()
                let elapsed = Date().timeIntervalSince(start)
                let tokensPerSecond = Double((step + 1) * batchSize * length) / elapsed
                print(String(format: "step %4d  loss %.3f  lr %.2e  %.0f tok/s", step + 1, mean,
                             optimizer.learningRate, tokensPerSecond))
            }
        }
        let prompt = Array("HAMLET.".utf8).map { Int32($0) }
        let result = Generator(model: model).generate(
            prompt: prompt, maxTokens: 120, sampling: SamplingParameters(temperature: 0.8, topK: 40, seed: seed))
        let sample = String(decoding: (prompt + result.tokens).map { UInt8(clamping: $0) }, as: UTF8.self)
        print(String(format: "loss %.3f → %.3f (a uniform guess scores %.3f); %.1f s in all", first, last,
                     log(256.0), Date().timeIntervalSince(start)))
        print("sample (temperature 0.8):\n\(sample)")
    }
}
