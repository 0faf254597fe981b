import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor
import TrimtabText

/// `trimtab merge` on SmolLM2-135M-Instruct: the merged model directory, loaded back with
/// ``ModelLoader``, gives the adapted model's logits; its tokenizer.json (written from the
/// GGUF tokenizer) encodes as the original.
///
/// With `TRIMTAB_MERGE_EXPORT=DIR` the merged directories stay in DIR with Trimtab's logits
/// and token ids, for `scripts/reference/peft_lora.py --check-merged DIR` (transformers
/// loads them and compares).
final class SmolLM2MergeTests: XCTestCase {
    static let texts = [
        "The capital of France is Paris.",
        "Trim tabs steer large ships because the rudder is 1234567 times larger!",
        "  leading spaces, tabs\tand\nnewlines\n\n  ",
        "Ünïcödé — naïve café, 日本語のテキスト, emoji 🚢⚓️ and math: ∑ x² ≤ 3.14159",
        "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n",
        "def f(x):\n    return x ** 2  # comment\n",
        "I've been thinking... they'll say it's 2024's best, won't they? URLs: https://example.com/a_b?c=1",
    ]

    /// Without the GGUF's quantised blocks: the merged directory reloads as dense
    /// matrices, and a prompt of at most 8 tokens on the blocks rounds its activations
    /// (up to ~3e-4 of the logits), which is not what this test compares.
    private func smolLM2() throws -> LoadedModel {
        try TestAssets.requireFile(TestAssets.smolLM2)
        return try SmolLM2MixedAdapterTests.loaded.get()
    }

    func testTokenizerJSONRoundTrip() throws {
        let tokenizer = try smolLM2().tokenizer
        let written = try Tokenizer(tokenizerJSON: try tokenizer.huggingFaceJSON())
        for text in Self.texts {
            XCTAssertEqual(written.encode(text, addSpecialTokens: false), tokenizer.encode(text, addSpecialTokens: false), text)
            XCTAssertEqual(written.encode(text, addSpecialTokens: true), tokenizer.encode(text, addSpecialTokens: true), text)
        }
        let config = try JSONSerialization.jsonObject(with: try tokenizer.huggingFaceConfigJSON(modelMaxLength: 8192)) as? [String: Any]
        XCTAssertEqual(config?["eos_token"] as? String, "<|im_end|>")
        XCTAssertNotNil(config?["chat_template"] as? String)
    }

    func testMergedDirectoryGivesAdaptedLogits() throws {
        let loaded = try smolLM2()
        let model = loaded.model, tokenizer = loaded.tokenizer
        let environment = ProcessInfo.processInfo.environment["TRIMTAB_MERGE_EXPORT"].flatMap { $0.isEmpty ? nil : $0 }
        let root = URL(fileURLWithPath: environment ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-merge-\(UUID().uuidString)").path)
        addTeardownBlock { if environment == nil { try? FileManager.default.removeItem(at: root) } }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let rows = ["The capital of France is", "Trim tabs steer large ships because the rudder"].map {
            tokenizer.encode($0, addSpecialTokens: false)
        }
        var rng = SplitMix64(seed: 4321)
        let columns = Array(Set((0..<64).map { _ in Int(rng.next(upperBound: UInt64(model.vocabularySize))) })).sorted()
        // PEFT-made adapters (fixtures), and a Trimtab DoRA on all linear layers of one block.
        var adapters: [(String, Adapter)] = []
        for name in ["lora", "dora", "ia3"] {
            adapters.append((name, try AdapterFiles.load(from: try TestAssets.fixture("peft/\(name)"), model: model).0))
        }
        let dora = try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 2, targetModules: .names(["all-linear"]),
                                                                             layers: [4], dora: true, seed: 5), model: model)
        TinyModel.perturb(dora, seed: 6)
        adapters.append(("dora_all_linear", dora))
        // Each merge writes and reads 540 MB: by default one adapter (DoRA, which runs the
        // LoRA path too); all of them when exporting for the Python check.
        for (name, adapter) in adapters where environment != nil || name == "dora" {
            adapter.isTraining = false
            let directory = root.appendingPathComponent(name)
            let merged = try XCTUnwrap(adapter as? MergeableAdapter).mergedWeights()
            try ModelDirectoryWriter.write(loaded, replacing: merged, to: directory)
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            XCTAssertEqual(files, ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                                   "tokenizer_config.json"], name)
            let reloaded = try ModelLoader.load(directory.path)
            var record = SmolLM2PEFTReferenceTests.record(model, adapter, rows: rows, columns: columns)
            let mergedRecord = SmolLM2PEFTReferenceTests.record(reloaded.model, IdentityHooks(), rows: rows, columns: columns)
            let worst = SmolLM2PEFTReferenceTests.worstRatio(mergedRecord, record)
            print("merge \(name): merged directory vs adapted model, max |Δlogit| / max|logit| = \(worst)")
            XCTAssertLessThan(worst, 1e-4, name)
            for text in Self.texts {
                XCTAssertEqual(reloaded.tokenizer.encode(text, addSpecialTokens: false),
                               tokenizer.encode(text, addSpecialTokens: false), "\(name): \(text)")
            }
            if environment != nil {
                record.method = name
                try JSONEncoder().encode(record).write(to: root.appendingPathComponent("\(name).json"))
                let tokens = Self.texts.map { ["text": $0, "ids": tokenizer.encode($0, addSpecialTokens: false).map(Int.init)] as [String: Any] }
                try JSONSerialization.data(withJSONObject: tokens).write(to: root.appendingPathComponent("\(name).tokens.json"))
            } else {
                try FileManager.default.removeItem(at: directory)
            }
        }
        if environment != nil {
            print("merged directories in \(root.path); check with: scripts/reference/peft_lora.py --check-merged \(root.path)")
        }
    }
}
