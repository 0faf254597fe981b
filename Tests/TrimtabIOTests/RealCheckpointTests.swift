import Foundation
import XCTest
import TrimtabTensor
@testable import TrimtabIO

/// The real checkpoints from scripts/fetch-assets.sh against values the reference
/// packages (`gguf`, `safetensors`) read from the same files. A missing model FAILS
/// these tests: run scripts/fetch-assets.sh.
final class RealCheckpointTests: XCTestCase {
    struct Reference: Decodable {
        let tensorCount: Int
        let tensors: [String: TensorValues]
        let tokenCount: Int?
        let firstTokens: [String]?
        let parameterCount: Int?
    }

    struct TensorValues: Decodable {
        let type: String?
        let dtype: String?
        let shape: [Int]
        let first: [Double]
        let last: [Double]
        let sum: Double?
    }

    func testSmolLM2GGUF() throws {
        let url = try AssetCache.require("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let reference = try IOFixtures.decode(Reference.self, "smollm2_reference.json")
        let file = try GGUFFile(url: url)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(try file.int("llama.block_count"), 30)
        XCTAssertEqual(try file.int("llama.embedding_length"), 576)
        XCTAssertEqual(try file.int("llama.attention.head_count"), 9)
        XCTAssertEqual(try file.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(try file.int("llama.vocab_size"), 49152)
        XCTAssertEqual(try file.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(try file.string("tokenizer.ggml.model"), "gpt2")
        XCTAssertEqual(file.metadata["tokenizer.ggml.tokens"]?.strings?.count, reference.tokenCount)
        XCTAssertEqual(Array(file.metadata["tokenizer.ggml.tokens"]?.strings?.prefix(5) ?? []), reference.firstTokens)
        XCTAssertEqual(file.tensorInfos.count, reference.tensorCount)

        var types = Set<String>()
        for (name, expected) in reference.tensors.sorted(by: { $0.key < $1.key }) {
            let info = try file.info(name)
            XCTAssertEqual(info.type.name, expected.type, name)
            types.insert(info.type.name)
            let tensor = try file.tensor(name)
            XCTAssertEqual(tensor.shape, expected.shape, name)
            let n = tensor.count
            let values = UnsafeBufferPointer(start: tensor.floats, count: n)
            // Dequantisation is exact: the same f32 operations as gguf.quants.
            XCTAssertEqual(Array(values.prefix(16)), expected.first.map { Float($0) }, "\(name) first 16")
            XCTAssertEqual(Array(values.suffix(16)), expected.last.map { Float($0) }, "\(name) last 16")
            if let sum = expected.sum {
                let total = values.reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(total, sum, accuracy: 1e-6 * max(1, abs(sum)) + 1e-3, "\(name) sum")
            }
        }
        XCTAssertTrue(types.isSuperset(of: ["Q8_0", "Q4_1", "F32"]), "reference covers \(types)")
    }

    func testMiniLMSafetensors() throws {
        let directory = try AssetCache.require("models/all-minilm-l6-v2")
        _ = try AssetCache.require("models/all-minilm-l6-v2/model.safetensors")
        let reference = try IOFixtures.decode(Reference.self, "minilm_reference.json")
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.tensorNames.count, reference.tensorCount)
        XCTAssertEqual(checkpoint.metadata["format"], "pt")
        let parameters = try checkpoint.tensorNames.reduce(0) { $0 + (try checkpoint.info($1).elementCount) }
        XCTAssertEqual(parameters, reference.parameterCount)
        for (name, expected) in reference.tensors {
            let tensor = try checkpoint.tensor(name)
            XCTAssertEqual(tensor.shape, expected.shape, name)
            let values = tensor.scalars
            XCTAssertEqual(Array(values.prefix(16)), expected.first.map { Float($0) }, "\(name) first 16")
            XCTAssertEqual(Array(values.suffix(16)), expected.last.map { Float($0) }, "\(name) last 16")
        }
        let ids = try checkpoint.file(holding: "embeddings.position_ids").integers("embeddings.position_ids")
        XCTAssertEqual(ids, (0 ..< 512).map(Int64.init))
    }

    func testInspectSummaries() throws {
        let gguf = try CheckpointSummary.load(AssetCache.require("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
        XCTAssertEqual(gguf.format, "gguf")
        XCTAssertEqual(gguf.architecture, "llama")
        XCTAssertEqual(gguf.tensors.count, 272)
        XCTAssertEqual(gguf.dtypes["Q4_1"]?.tensors, 210)
        XCTAssertEqual(gguf.dtypes["Q8_0"]?.tensors, 1)
        XCTAssertEqual(gguf.dtypes["F32"]?.tensors, 61)
        XCTAssertEqual(gguf.parameterCount, gguf.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })
        XCTAssertEqual(gguf.tensors.first, .init(name: "token_embd.weight", shape: [49152, 576], dtype: "Q8_0"))

        let minilm = try CheckpointSummary.load(AssetCache.require("models/all-minilm-l6-v2"))
        XCTAssertEqual(minilm.format, "safetensors")
        XCTAssertEqual(minilm.architecture, "BertModel")
        XCTAssertEqual(minilm.modelType, "bert")
        XCTAssertEqual(minilm.parameterCount, 22_713_728)
        XCTAssertEqual(minilm.dtypes["I64"]?.tensors, 1)
        let json = try JSONEncoder().encode(minilm)
        XCTAssertEqual(try JSONDecoder().decode(CheckpointSummary.self, from: json), minilm)
    }
}
