import Foundation
import XCTest
@testable import TrimtabPEFT
import TrimtabIO
import TrimtabModels
import TrimtabTensor

/// Reading and writing adapter directories: PEFT's file layout, typed errors that name the
/// file and the tensor or field, and the safetensors metadata.
final class AdapterFilesTests: XCTestCase {
    private let model = TinyModel.make()

    private func directory() -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-peft-\(UUID().uuidString)", isDirectory: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func saved(_ method: PromptMethod = .prefixTuning) throws -> URL {
        let adapter = try makeAdapter(method, options: PromptMethodOptions(virtualTokens: 3), model: model,
                                      tokenizer: TinyModel.tokenizer)
        let url = directory()
        try AdapterFiles.save(adapter, to: url, extras: nil)
        return url
    }

    func testSafetensorsLayout() throws {
        let url = try saved()
        let file = try SafetensorsFile(url: url.appendingPathComponent("adapter_model.safetensors"))
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensorNames, ["prompt_embeddings"])
        XCTAssertEqual(try file.info("prompt_embeddings").shape, [3, 32])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.path).sorted(),
                       ["adapter_config.json", "adapter_model.safetensors"], "no temporary files are left behind")
    }

    func testMissingAndWrongTensors() throws {
        let url = try saved()
        let weights = url.appendingPathComponent("adapter_model.safetensors")
        try SafetensorsWriter.write(["other": Tensor(zeros: [3, 32])], to: weights)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            XCTAssertEqual(error as? AdapterError, .missingTensor(file: weights.path, name: "prompt_embeddings"))
        }
        try SafetensorsWriter.write(["prompt_embeddings": Tensor(zeros: [3, 31])], to: weights)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            XCTAssertEqual(error as? AdapterError, .shapeMismatch(file: weights.path, tensor: "prompt_embeddings",
                                                                  expected: [3, 32], got: [3, 31]))
            XCTAssertTrue("\(error)".contains("adapter_model.safetensors"), "\(error)")
        }
        try FileManager.default.removeItem(at: weights)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            guard case .missingFile? = error as? AdapterError else { return XCTFail("\(error)") }
        }
    }

    func testModelMismatchSaysSo() throws {
        let url = try saved(.promptTuning)
        let other = try LlamaModel(configuration: LlamaConfiguration(vocabularySize: 40, hiddenSize: 24, intermediateSize: 32,
                                                                     layerCount: 2, headCount: 4, kvHeadCount: 2),
                                   weights: LlamaModel.randomWeights(LlamaConfiguration(
                                       vocabularySize: 40, hiddenSize: 24, intermediateSize: 32, layerCount: 2,
                                       headCount: 4, kvHeadCount: 2), seed: 1), source: "other")
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: other)) { error in
            guard case let .modelMismatch(file, field, adapter, modelValue, _)? = error as? AdapterError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, url.appendingPathComponent("adapter_config.json").path)
            XCTAssertEqual(field, "token_dim")
            XCTAssertEqual(adapter, 16)
            XCTAssertEqual(modelValue, 24)
            XCTAssertTrue("\(error)".contains("does not fit the model"))
        }
        // A prefix adapter for another layer count.
        let prefix = try saved(.prefixTuning)
        let deeper = LlamaConfiguration(vocabularySize: 40, hiddenSize: 16, intermediateSize: 32, layerCount: 3,
                                        headCount: 4, kvHeadCount: 2)
        let deep = try LlamaModel(configuration: deeper, weights: LlamaModel.randomWeights(deeper, seed: 1), source: "deep")
        XCTAssertThrowsError(try AdapterFiles.load(from: prefix, model: deep)) { error in
            guard case .modelMismatch(_, "num_layers", 2, 3, _)? = error as? AdapterError else { return XCTFail("\(error)") }
        }
    }

    func testUnsupportedMethodAndBadJSON() throws {
        let url = try saved()
        let config = url.appendingPathComponent("adapter_config.json")
        try Data(#"{"peft_type": "LOHA", "r": 8}"#.utf8).write(to: config)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            XCTAssertEqual(error as? AdapterError, .unsupportedMethod(file: config.path, peftType: "LOHA"))
        }
        try Data(#"{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 3, "token_dim": 8}"#.utf8).write(to: config)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            XCTAssertEqual(error as? AdapterError, .invalidConfiguration(file: config.path, field: "num_layers",
                                                                         reason: "is required for prefix tuning"))
        }
        try Data("not json".utf8).write(to: config)
        XCTAssertThrowsError(try AdapterFiles.load(from: url, model: model)) { error in
            guard case .invalidConfiguration(config.path, _, _)? = error as? AdapterError else { return XCTFail("\(error)") }
        }
    }

    /// A loaded P-tuning adapter and a loaded projected prefix are fixed; a loaded prompt
    /// and a loaded plain prefix train.
    func testWhatLoadsTrainable() throws {
        for (method, options, trainable) in [
            (PromptMethod.promptTuning, PromptMethodOptions(virtualTokens: 2), true),
            (.pTuning, PromptMethodOptions(virtualTokens: 2, encoder: .lstm), false),
            (.prefixTuning, PromptMethodOptions(virtualTokens: 2), true),
            (.prefixTuning, PromptMethodOptions(virtualTokens: 2, prefixProjection: true), false),
        ] {
            let url = directory()
            try AdapterFiles.save(try makeAdapter(method, options: options, model: model, tokenizer: TinyModel.tokenizer),
                                  to: url, extras: nil)
            let (loaded, _) = try AdapterFiles.load(from: url, model: model)
            XCTAssertEqual(!loaded.trainableParameters.isEmpty, trainable, "\(method) \(options.prefixProjection)")
        }
    }
}
