import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT
import TrimtabModels
import TrimtabTensor

/// adapter_config.json: PEFT's keys, defaults, unknown keys, errors naming the field, and
/// TEXT initialisation.
final class ConfigurationTests: XCTestCase {
    private let model = TinyModel.make()

    private func jsonObject(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Trimtab writes exactly the keys PEFT 0.21 writes for each method (the PEFT-made
    /// fixtures), with `null` where PEFT has `null`.
    func testWritesPEFTKeySets() throws {
        let cases: [(String, PromptMethod, PromptMethodOptions)] = [
            ("prompt_tuning_text", .promptTuning,
             PromptMethodOptions(virtualTokens: 4, initialisation: .text, initText: "the cat")),
            ("p_tuning_lstm", .pTuning, PromptMethodOptions(virtualTokens: 4, encoder: .lstm)),
            ("prefix_tuning", .prefixTuning, PromptMethodOptions(virtualTokens: 4)),
        ]
        for (fixture, method, options) in cases {
            let peft = try jsonObject(Data(contentsOf: try TestAssets.fixture("peft/\(fixture)/adapter_config.json")))
            let adapter = try makeAdapter(method, options: options, model: model, tokenizer: TinyModel.tokenizer)
            let ours = try jsonObject(try adapter.encodedConfiguration())
            XCTAssertEqual(Set(ours.keys), Set(peft.keys), fixture)
            for (key, value) in peft where value is NSNull && !(fixture == "prompt_tuning_text" && key == "tokenizer_kwargs")
                && key != "base_model_name_or_path" {
                XCTAssertTrue(ours[key] is NSNull, "\(fixture): \(key) should be null, is \(ours[key] ?? "absent")")
            }
            XCTAssertEqual(ours["inference_mode"] as? Bool, true)
            XCTAssertEqual(ours["peft_version"] as? String, "0.21.2")
        }
    }

    /// Every PEFT-made fixture decodes, and re-encodes to the same JSON values.
    func testPEFTConfigurationsRoundTrip() throws {
        for name in ["prompt_tuning_text", "p_tuning_mlp", "p_tuning_lstm", "prefix_tuning", "prefix_tuning_projection"] {
            let data = try Data(contentsOf: try TestAssets.fixture("peft/\(name)/adapter_config.json"))
            let original = try jsonObject(data)
            let reencoded: Data
            switch original["peft_type"] as? String {
            case "PROMPT_TUNING": reencoded = try ConfigurationJSON.encode(try JSONDecoder().decode(PromptTuningConfiguration.self, from: data))
            case "P_TUNING": reencoded = try ConfigurationJSON.encode(try JSONDecoder().decode(PTuningConfiguration.self, from: data))
            default: reencoded = try ConfigurationJSON.encode(try JSONDecoder().decode(PrefixTuningConfiguration.self, from: data))
            }
            XCTAssertEqual(try jsonObject(reencoded) as NSDictionary, original as NSDictionary, name)
        }
    }

    func testDefaultsAndUnknownKeys() throws {
        let json = #"""
        {"peft_type": "P_TUNING", "num_virtual_tokens": 10, "token_dim": 16, "task_type": "CAUSAL_LM",
         "some_future_key": {"nested": [1, 2]}, "encoder_hidden_size": null}
        """#
        let c = try JSONDecoder().decode(PTuningConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(c.encoder, .mlp)
        XCTAssertEqual(c.encoderHiddenSize, 16, "encoder_hidden_size defaults to token_dim, as PEFT fills it in")
        XCTAssertEqual(c.encoderLayers, 2)
        XCTAssertEqual(c.encoderDropout, 0)
        XCTAssertEqual(c.settings.transformerSubmodules, 1)
        let prefix = try JSONDecoder().decode(PrefixTuningConfiguration.self, from: Data(#"""
            {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 4, "token_dim": 8, "num_layers": 2,
             "num_attention_heads": 2}
            """#.utf8))
        XCTAssertFalse(prefix.prefixProjection)
        XCTAssertEqual(prefix.encoderHiddenSize, 8)
        let prompt = try JSONDecoder().decode(PromptTuningConfiguration.self, from: Data(#"""
            {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "token_dim": 8}
            """#.utf8))
        XCTAssertEqual(prompt.initialisation, .random)
    }

    func testErrorsNameTheField() {
        let cases: [(String, String)] = [
            (#"{"peft_type": "P_TUNING", "token_dim": 16}"#, "num_virtual_tokens"),
            (#"{"peft_type": "P_TUNING", "num_virtual_tokens": 0, "token_dim": 16}"#, "num_virtual_tokens"),
            (#"{"peft_type": "P_TUNING", "num_virtual_tokens": "ten", "token_dim": 16}"#, "num_virtual_tokens"),
            (#"{"peft_type": "P_TUNING", "num_virtual_tokens": 4, "token_dim": 16, "encoder_reparameterization_type": "GRU"}"#,
             "encoder_reparameterization_type"),
            (#"{"peft_type": "P_TUNING", "num_virtual_tokens": 4, "token_dim": 16, "encoder_dropout": 1.5}"#,
             "encoder_dropout"),
            (#"{"peft_type": "P_TUNING", "num_virtual_tokens": 4, "token_dim": 16, "num_transformer_submodules": 2}"#,
             "num_transformer_submodules"),
            (#"{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "token_dim": 16}"#, "peft_type"),
        ]
        for (json, field) in cases {
            XCTAssertThrowsError(try JSONDecoder().decode(PTuningConfiguration.self, from: Data(json.utf8)), json) { error in
                guard case let .invalidConfiguration(_, got, _)? = error as? AdapterError else {
                    return XCTFail("\(json): \(error)")
                }
                XCTAssertEqual(got, field, json)
            }
        }
        let text = #"{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "token_dim": 16, "prompt_tuning_init": "TEXT", "prompt_tuning_init_text": "hi"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(PromptTuningConfiguration.self, from: Data(text.utf8))) { error in
            XCTAssertEqual(error as? AdapterError, .invalidConfiguration(file: nil, field: "tokenizer_name_or_path",
                                                                         reason: "is required when prompt_tuning_init is TEXT"))
        }
        let prefix = #"{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 4, "token_dim": 9, "num_layers": 2, "num_attention_heads": 2}"#
        XCTAssertThrowsError(try JSONDecoder().decode(PrefixTuningConfiguration.self, from: Data(prefix.utf8))) { error in
            guard case .invalidConfiguration(_, "token_dim", _)? = error as? AdapterError else { return XCTFail("\(error)") }
        }
    }

    /// TEXT init copies the word embeddings of the text's ids, cut to P or repeated.
    func testTextInitialisation() throws {
        let table = try XCTUnwrap(model.parameters["model.embed_tokens.weight"]).value
        func rows(_ ids: [Int32]) -> [Float] {
            ids.flatMap { id in (0..<16).map { table.floats[Int(id) * 16 + $0] } }
        }
        // "the cat sat" = [1, 2, 3]: P = 7 repeats it (1 2 3 1 2 3 1); P = 2 cuts it (1 2).
        for (p, expected) in [(7, [1, 2, 3, 1, 2, 3, 1] as [Int32]), (2, [1, 2]), (3, [1, 2, 3])] {
            let options = PromptMethodOptions(virtualTokens: p, initialisation: .text, initText: "the cat sat")
            let adapter = try makeAdapter(.promptTuning, options: options, model: model, tokenizer: TinyModel.tokenizer)
            XCTAssertEqual(adapter.exportedTensors()["prompt_embeddings"]?.scalars, rows(expected), "P = \(p)")
            let config = try jsonObject(try adapter.encodedConfiguration())
            XCTAssertEqual(config["prompt_tuning_init"] as? String, "TEXT")
            XCTAssertEqual(config["prompt_tuning_init_text"] as? String, "the cat sat")
        }
        XCTAssertEqual(PromptEmbedding.textIds([5, 6], virtualTokens: 5), [5, 6, 5, 6, 5])
        // SAMPLE_VOCAB: every row is some row of the table.
        let sampled = try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 4, initialisation: .sampleVocab,
                                                                                   seed: 9),
                                      model: model, tokenizer: TinyModel.tokenizer).exportedTensors()["prompt_embeddings"]
        let values = try XCTUnwrap(sampled).scalars
        for r in 0..<4 {
            let row = Array(values[(r * 16)..<(r * 16 + 16)])
            XCTAssertTrue((0..<40).contains { rows([Int32($0)]) == row }, "sampled row \(r) is not a word embedding")
        }
    }

    func testInvalidOptions() {
        let tok = TinyModel.tokenizer
        XCTAssertThrowsError(try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 0), model: model,
                                             tokenizer: tok))
        XCTAssertThrowsError(try makeAdapter(.promptTuning, options: PromptMethodOptions(initialisation: .text),
                                             model: model, tokenizer: tok)) { error in
            XCTAssertEqual(error as? AdapterError, .invalidOption(field: "initText", reason: "is required for TEXT initialisation"))
        }
        XCTAssertThrowsError(try makeAdapter(.prefixTuning, options: PromptMethodOptions(initialisation: .sampleVocab),
                                             model: model, tokenizer: tok))
    }
}
