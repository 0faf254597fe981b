import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor
import TrimtabText

/// PEFT adapters on SmolLM2-135M-Instruct in both directions.
///
/// PEFT → Trimtab: adapters made and trained by PEFT 0.21 (Fixtures/peft/<name>/, from
/// scripts/reference/peft_prompt.py) load with ``AdapterFiles`` and give PEFT's logits
/// within 1e-3 × the position's max |logit|, alone and in a right-padded batch.
///
/// Trimtab → PEFT: ``testExportForPEFT`` writes Trimtab-made adapters of every kind with
/// Trimtab's logits to `$TRIMTAB_PEFT_EXPORT` (default: a temporary directory, printed);
/// `scripts/reference/peft_prompt.py --check DIR` loads them with
/// `PeftModel.from_pretrained` and compares.
final class SmolLM2PEFTReferenceTests: XCTestCase {
    static let names = ["prompt_tuning_text", "p_tuning_mlp", "p_tuning_lstm", "prefix_tuning", "prefix_tuning_projection"]

    /// Logits at the valid positions of some rows, on a subset of vocabulary columns.
    struct LogitRecord: Codable {
        struct Part: Codable {
            var logits: [[Float]]
            var max_abs: [Float]
        }
        struct TextInit: Codable {
            var text: String
            var ids: [Int32]
        }
        var method: String?
        var rows: [[Int32]]
        var virtual: Int
        var columns: [Int]
        var single: [Part]
        var batch: [Part]
        var greedy: [Int32]?
        var text_init: [TextInit]?
    }

    static let loaded: Result<LoadedModel, Error> = Result { try ModelLoader.load(TestAssets.smolLM2) }

    private func smolLM2() throws -> LoadedModel {
        try TestAssets.requireFile(TestAssets.smolLM2)
        return try Self.loaded.get()
    }

    private func fixture(_ name: String) throws -> LogitRecord {
        try JSONDecoder().decode(LogitRecord.self, from: Data(contentsOf: try TestAssets.fixture("peft/\(name).json")))
    }

    /// Trimtab's logits for `rows` alone and as one right-padded batch.
    static func record(_ model: LanguageModel, _ adapter: Adapter?, rows: [[Int32]], columns: [Int]) -> LogitRecord {
        func run(_ batch: TokenBatch) -> [LogitRecord.Part] {
            let tape = Tape(recording: false)
            let (hidden, virtualCount) = model.hiddenStates(batch, tape: tape, hooks: adapter, cache: nil)
            let logits = model.logits(hidden, tape: tape).value
            let vocab = model.vocabularySize, width = virtualCount + batch.length
            return (0..<batch.batchSize).map { b in
                var part = LogitRecord.Part(logits: [], max_abs: [])
                for j in 0..<(virtualCount + batch.validCount(row: b)) {
                    let row = logits.floats + (b * width + j) * vocab
                    part.logits.append(columns.map { row[$0] })
                    part.max_abs.append((0..<vocab).reduce(0) { max($0, abs(row[$1])) })
                }
                return part
            }
        }
        let singles = rows.flatMap { run(TokenBatch(rows: [$0])) }
        let batch = run(TokenBatch(rows: rows, padId: 0))
        let virtual = singles[0].logits.count - rows[0].count
        return LogitRecord(method: nil, rows: rows, virtual: virtual, columns: columns, single: singles, batch: batch)
    }

    /// max |Δlogit| / max|logit| over every position of both parts.
    static func worstRatio(_ ours: LogitRecord, _ reference: LogitRecord) -> Float {
        var worst: Float = 0
        for (a, b) in zip(ours.single + ours.batch, reference.single + reference.batch) {
            if a.logits.count != b.logits.count { return .infinity }
            for (t, (rowA, rowB)) in zip(a.logits, b.logits).enumerated() {
                for (x, y) in zip(rowA, rowB) { worst = max(worst, abs(x - y) / b.max_abs[t]) }
            }
        }
        return worst
    }

    func testPEFTAdaptersMatchPEFTLogits() throws {
        let loaded = try smolLM2()
        for name in Self.names {
            let reference = try fixture(name)
            let (adapter, _) = try AdapterFiles.load(from: try TestAssets.fixture("peft/\(name)"), model: loaded.model)
            adapter.isTraining = false
            let ours = Self.record(loaded.model, adapter, rows: reference.rows, columns: reference.columns)
            XCTAssertEqual(ours.virtual, reference.virtual, name)
            let worst = Self.worstRatio(ours, reference)
            print("PEFT → Trimtab \(name): max |Δlogit| / max|logit| = \(worst)")
            XCTAssertLessThan(worst, 1e-3, name)
        }
    }

    /// Greedy decoding with the KV cache continues the first prompt as PEFT's `generate`.
    func testGreedyMatchesPEFT() throws {
        let loaded = try smolLM2()
        for name in Self.names {
            let reference = try fixture(name)
            let (adapter, _) = try AdapterFiles.load(from: try TestAssets.fixture("peft/\(name)"), model: loaded.model)
            adapter.isTraining = false
            let expected = try XCTUnwrap(reference.greedy)
            let result = Generator(model: loaded.model).generate(prompt: reference.rows[0], maxTokens: expected.count,
                                                                 hooks: adapter)
            XCTAssertEqual(result.tokens, expected, name)
        }
    }

    /// TEXT init takes the ids PEFT takes (the text tokenized as `tokenizer(text)` does,
    /// cut or repeated to P) and copies exactly those rows of the embedding table.
    func testTextInitialisationMatchesPEFT() throws {
        let loaded = try smolLM2()
        let table = try XCTUnwrap(loaded.model.parameters["model.embed_tokens.weight"]).value
        for textInit in try XCTUnwrap(try fixture("prompt_tuning_text").text_init) {
            let ids = PromptEmbedding.textIds(loaded.tokenizer.encode(textInit.text, addSpecialTokens: true),
                                              virtualTokens: 8)
            XCTAssertEqual(ids, textInit.ids, textInit.text)
            let options = PromptMethodOptions(virtualTokens: 8, initialisation: .text, initText: textInit.text)
            let adapter = try makeAdapter(.promptTuning, options: options, model: loaded.model, tokenizer: loaded.tokenizer)
            let c = loaded.model.hiddenSize
            let expected = ids.flatMap { id in (0..<c).map { table.floats[Int(id) * c + $0] } }
            XCTAssertEqual(adapter.exportedTensors()["prompt_embeddings"]?.scalars, expected, textInit.text)
        }
    }

    /// Trimtab-made adapters (trained 2 steps), saved with Trimtab's logits for
    /// `peft_prompt.py --check`.
    func testExportForPEFT() throws {
        let loaded = try smolLM2()
        let model = loaded.model, tokenizer = loaded.tokenizer
        let environment = ProcessInfo.processInfo.environment["TRIMTAB_PEFT_EXPORT"].flatMap { $0.isEmpty ? nil : $0 }
        let root = URL(fileURLWithPath: environment ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-peft-export-\(UUID().uuidString)").path)
        if environment == nil { addTeardownBlock { try? FileManager.default.removeItem(at: root) } }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let kinds: [(String, PromptMethod, PromptMethodOptions)] = [
            ("prompt_tuning_text", .promptTuning,
             PromptMethodOptions(virtualTokens: 8, initialisation: .text,
                                 initText: "Classify the sentiment of this movie review as positive or negative",
                                 seed: 1, baseModelNameOrPath: TestAssets.smolLM2)),
            ("prompt_tuning_sample_vocab", .promptTuning,
             PromptMethodOptions(virtualTokens: 6, initialisation: .sampleVocab, seed: 2)),
            ("p_tuning_mlp", .pTuning, PromptMethodOptions(virtualTokens: 8, encoder: .mlp, encoderHiddenSize: 128, seed: 3)),
            ("p_tuning_lstm", .pTuning, PromptMethodOptions(virtualTokens: 8, encoder: .lstm, encoderHiddenSize: 64, seed: 4)),
            ("prefix_tuning", .prefixTuning, PromptMethodOptions(virtualTokens: 4, seed: 5)),
            ("prefix_tuning_projection", .prefixTuning,
             PromptMethodOptions(virtualTokens: 4, encoderHiddenSize: 64, prefixProjection: true, seed: 6)),
        ]
        let rows = ["The capital of France is", "Trim tabs steer large ships because the rudder"].map {
            tokenizer.encode($0, addSpecialTokens: false)
        }
        let train = TokenBatch(rows: [tokenizer.encode("A trim tab is a small surface that moves a large rudder with little force.",
                                                       addSpecialTokens: false)])
        var rng = SplitMix64(seed: 4321)
        let columns = Array(Set((0..<64).map { _ in Int(rng.next(upperBound: UInt64(model.vocabularySize))) })).sorted()
        for (name, method, options) in kinds {
            let adapter = try makeAdapter(method, options: options, model: model, tokenizer: tokenizer)
            let losses = try Training.run(model, adapter, train, steps: 2, learningRate: 1e-2)
            adapter.isTraining = false
            let directory = root.appendingPathComponent(name)
            try AdapterFiles.save(adapter, to: directory, extras: AdapterExtras(taskKind: "completion"))
            var record = Self.record(model, adapter, rows: rows, columns: columns)
            record.method = name
            record.greedy = Generator(model: model).generate(prompt: rows[0], maxTokens: 8, hooks: adapter).tokens
            let encoder = JSONEncoder()
            try encoder.encode(record).write(to: root.appendingPathComponent("\(name).json"))
            // The saved directory gives the same logits back in Trimtab.
            let (reloaded, _) = try AdapterFiles.load(from: directory, model: model)
            let again = Self.record(model, reloaded, rows: rows, columns: columns)
            XCTAssertLessThan(Self.worstRatio(again, record), 1e-6, name)
            print("exported \(name): losses \(losses)")
        }
        print("Trimtab-made adapters in \(root.path); check with: scripts/reference/peft_prompt.py --check \(root.path)")
    }
}
