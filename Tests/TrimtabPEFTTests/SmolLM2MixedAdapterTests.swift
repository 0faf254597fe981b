import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// Mixed-adapter batches on SmolLM2-135M-Instruct with real adapters: the PEFT-trained
/// fixtures of every prompt method (Fixtures/peft/), a bottleneck adapter and base rows in
/// one forward pass, row by row against each row alone; and greedy generation.
final class SmolLM2MixedAdapterTests: XCTestCase {
    static let names = ["prompt_tuning_text", "p_tuning_mlp", "p_tuning_lstm", "prefix_tuning", "prefix_tuning_projection"]

    /// Without the GGUF's quantised blocks: a prompt of at most 8 tokens alone would be
    /// multiplied from them, which rounds its activations (up to ~3e-4 of the logits)
    /// unlike the batch's GEMM on the same weights, and this test compares batching, not
    /// kernels. (`SmolLM2MergeTests` shares this model.)
    static let loaded: Result<LoadedModel, Error> = Result {
        try ModelLoader.load(TestAssets.smolLM2, keepQuantizedBlocks: false)
    }

    private func rows() throws -> (LoadedModel, [(label: String, adapter: Adapter?)], [[Int32]]) {
        let loaded = try Self.loaded.get()
        var adapters: [(label: String, adapter: Adapter?)] = [("base", nil)]
        for name in Self.names {
            let (adapter, _) = try AdapterFiles.load(from: try TestAssets.fixture("peft/\(name)"), model: loaded.model)
            adapter.isTraining = false
            adapters.append((name, adapter))
        }
        let bottleneck = try BottleneckAdapter(configuration: BottleneckConfiguration(
            architecture: .houlsby, reductionFactor: 16, hiddenSize: loaded.model.hiddenSize,
            layers: loaded.model.layerCount), model: loaded.model, seed: 3)
        var rng = SplitMix64(seed: 4)
        for name in bottleneck.trainableParameters.keys.sorted() {
            guard let p = bottleneck.trainableParameters[name], name.contains("adapter_up") else { continue }
            for i in 0..<p.value.count { p.value.floats[i] = 0.02 * rng.nextNormal() }
        }
        adapters.append(("bottleneck, houlsby", bottleneck))
        let texts = ["The film was a delight from start to finish.", "Boring.", "What is the capital of France?",
                     "Review: a clumsy, overlong mess\nSentiment:", "Once upon a time", "2 + 2 =", "I loved it"]
        let prompts = texts.map { loaded.tokenizer.encode($0, addSpecialTokens: true) }
        return (loaded, adapters, prompts)
    }

    func testMixedBatchMatchesRowsAlone() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let (loaded, adapters, prompts) = try rows()
        // Prompts of different lengths, each row its own adapter kind (or none).
        let worst = MixedAdapterTests.checkRows(loaded.model, prompts: prompts, adapters: adapters, tolerance: 1e-5)
        print("SmolLM2 mixed batch: max |Δlogit| vs rows alone \(worst)")
    }

    func testMixedGenerationMatchesRowsAlone() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let (loaded, adapters, prompts) = try rows()
        let generator = Generator(model: loaded.model)
        let together = generator.generate(prompts: prompts, maxTokens: 6,
                                          hooks: MixedAdapterHooks(rows: adapters.map(\.adapter)))
        for (row, prompt) in prompts.enumerated() {
            let alone = generator.generate(prompt: prompt, maxTokens: 6, hooks: adapters[row].adapter)
            XCTAssertEqual(together[row].tokens, alone.tokens, adapters[row].label)
        }
    }
}
