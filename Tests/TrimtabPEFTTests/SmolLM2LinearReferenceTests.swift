import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor
import TrimtabText
import TrimtabIO

/// LoRA, DoRA (with rsLoRA) and (IA)³ adapters on SmolLM2-135M-Instruct in both directions.
///
/// PEFT → Trimtab: adapters made and trained by PEFT 0.21 (Fixtures/peft/{lora,dora,ia3}/,
/// from scripts/reference/peft_lora.py) load with ``AdapterFiles`` and give PEFT's logits
/// within 1e-3 × the position's max |logit|, alone and in a right-padded batch, and PEFT's
/// greedy continuation.
///
/// Trimtab → PEFT: ``testExportForPEFT`` writes Trimtab-trained adapters with Trimtab's
/// logits to `$TRIMTAB_LORA_EXPORT` (default: a temporary directory);
/// `scripts/reference/peft_lora.py --check DIR` loads them in PEFT and compares.
final class SmolLM2LinearReferenceTests: XCTestCase {
    static let names = ["lora", "dora", "ia3"]
    typealias Record = SmolLM2PEFTReferenceTests.LogitRecord

    private func smolLM2() throws -> LoadedModel {
        try TestAssets.requireFile(TestAssets.smolLM2)
        return try SmolLM2PEFTReferenceTests.loaded.get()
    }

    private func fixture(_ name: String) throws -> Record {
        try JSONDecoder().decode(Record.self, from: Data(contentsOf: try TestAssets.fixture("peft/\(name).json")))
    }

    func testPEFTAdaptersMatchPEFTLogits() throws {
        let loaded = try smolLM2()
        for name in Self.names {
            let reference = try fixture(name)
            let (adapter, _) = try AdapterFiles.load(from: try TestAssets.fixture("peft/\(name)"), model: loaded.model)
            adapter.isTraining = false
            let ours = SmolLM2PEFTReferenceTests.record(loaded.model, adapter, rows: reference.rows,
                                                        columns: reference.columns)
            let worst = SmolLM2PEFTReferenceTests.worstRatio(ours, reference)
            // The adapter matters: the base model is far from PEFT's adapted logits.
            let base = SmolLM2PEFTReferenceTests.record(loaded.model, IdentityHooks(), rows: reference.rows,
                                                        columns: reference.columns)
            let effect = SmolLM2PEFTReferenceTests.worstRatio(base, reference)
            print("PEFT → Trimtab \(name): max |Δlogit| / max|logit| = \(worst) (base model vs adapted: \(effect))")
            XCTAssertLessThan(worst, 1e-3, name)
            XCTAssertGreaterThan(effect, 10 * max(worst, 1e-4), "\(name): the fixture adapter barely changes the model")
            let expected = try XCTUnwrap(reference.greedy)
            let result = Generator(model: loaded.model).generate(prompt: reference.rows[0], maxTokens: expected.count,
                                                                 hooks: adapter)
            XCTAssertEqual(result.tokens, expected, name)
            // Saving the loaded adapter again writes PEFT's configuration keys and tensors.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try AdapterFiles.save(adapter, to: directory, extras: nil)
            let original = try JSONSerialization.jsonObject(with: Data(contentsOf: try TestAssets.fixture("peft/\(name)/adapter_config.json"))) as? [String: Any]
            let ours2 = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as? [String: Any]
            XCTAssertEqual(Set(ours2?.keys ?? [:].keys), Set(original?.keys ?? [:].keys), "\(name): configuration keys")
            let written = try SafetensorsFileNames.names(directory.appendingPathComponent("adapter_model.safetensors"))
            let fromPEFT = try SafetensorsFileNames.names(try TestAssets.fixture("peft/\(name)/adapter_model.safetensors"))
            XCTAssertEqual(written, fromPEFT, "\(name): tensor names")
        }
    }

    /// Trimtab-made adapters (trained 2 steps), saved with Trimtab's logits for
    /// `peft_lora.py --check`.
    func testExportForPEFT() throws {
        let loaded = try smolLM2()
        let model = loaded.model, tokenizer = loaded.tokenizer
        let environment = ProcessInfo.processInfo.environment["TRIMTAB_LORA_EXPORT"].flatMap { $0.isEmpty ? nil : $0 }
        let root = URL(fileURLWithPath: environment ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-lora-export-\(UUID().uuidString)").path)
        if environment == nil { addTeardownBlock { try? FileManager.default.removeItem(at: root) } }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let kinds: [(String, LinearMethod, LinearMethodOptions)] = [
            ("lora", .lora, LinearMethodOptions(rank: 4, alpha: 8, layers: [1, 2], seed: 1)),
            ("lora_all_linear_rslora", .lora, LinearMethodOptions(rank: 2, alpha: 4, targetModules: .names(["all-linear"]),
                                                                  layers: [5], rsLoRA: true, initialisation: .string("gaussian"), seed: 2)),
            ("dora", .lora, LinearMethodOptions(rank: 2, alpha: 4, targetModules: .names(["q_proj", "v_proj", "down_proj"]),
                                                layers: [7], dora: true, seed: 3)),
            ("ia3", .ia3, LinearMethodOptions()),
        ]
        let rows = ["The capital of France is", "Trim tabs steer large ships because the rudder"].map {
            tokenizer.encode($0, addSpecialTokens: false)
        }
        let train = TokenBatch(rows: [tokenizer.encode("A trim tab is a small surface that moves a large rudder with little force.",
                                                       addSpecialTokens: false)])
        var rng = SplitMix64(seed: 4321)
        let columns = Array(Set((0..<64).map { _ in Int(rng.next(upperBound: UInt64(model.vocabularySize))) })).sorted()
        for (name, method, options) in kinds {
            var options = options
            options.baseModelNameOrPath = TestAssets.smolLM2
            let adapter = try makeLinearAdapter(method, options: options, model: model)
            let losses = try Training.run(model, adapter, train, steps: 2, learningRate: 1e-2)
            adapter.isTraining = false
            let directory = root.appendingPathComponent(name)
            try AdapterFiles.save(adapter, to: directory, extras: nil)
            var record = SmolLM2PEFTReferenceTests.record(model, adapter, rows: rows, columns: columns)
            record.method = name
            record.greedy = Generator(model: model).generate(prompt: rows[0], maxTokens: 8, hooks: adapter).tokens
            try JSONEncoder().encode(record).write(to: root.appendingPathComponent("\(name).json"))
            let (reloaded, _) = try AdapterFiles.load(from: directory, model: model)
            let again = SmolLM2PEFTReferenceTests.record(model, reloaded, rows: rows, columns: columns)
            XCTAssertLessThan(SmolLM2PEFTReferenceTests.worstRatio(again, record), 1e-6, name)
            print("exported \(name): losses \(losses)")
        }
        print("Trimtab-made adapters in \(root.path); check with: scripts/reference/peft_lora.py --check \(root.path)")
    }
}

/// Hooks that change nothing (the base model through the same code path).
final class IdentityHooks: Adapter {
    var peftType: String { "NONE" }
    var trainableParameters: [String: Variable] { [:] }
    func exportedTensors() -> [String: Tensor] { [:] }
    func encodedConfiguration() throws -> Data { Data("{}".utf8) }
    var isTraining = false
}

/// The tensor names of a safetensors file, sorted.
enum SafetensorsFileNames {
    static func names(_ url: URL) throws -> [String] {
        try SafetensorsFile(url: url).tensorNames.sorted()
    }
}
