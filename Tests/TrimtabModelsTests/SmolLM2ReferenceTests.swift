import Foundation
import TrimtabTestSupport
import XCTest
import TrimtabModels
import TrimtabTensor

/// SmolLM2-135M-Instruct from its GGUF against transformers' float32 forward pass of the
/// same file (fixture written by scripts/reference/models_smollm2.py).
final class SmolLM2ReferenceTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
            let columns: [Int]
            let logits: [[Float]]
            let max_abs: [Float]
            let greedy: [Int32]
        }
        let cases: [Case]
    }

    static let loaded: Result<LoadedModel, Error> = Result { try ModelLoader.load(TestAssets.smolLM2) }

    private func model() throws -> LoadedModel {
        try TestAssets.requireFile(TestAssets.smolLM2)
        return try Self.loaded.get()
    }

    private func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "smollm2_logits", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testConfigurationFromGGUF() throws {
        let m = try model().model
        XCTAssertEqual(m.architecture, "llama")
        XCTAssertEqual(m.layerCount, 30)
        XCTAssertEqual(m.hiddenSize, 576)
        XCTAssertEqual(m.headCount, 9)
        XCTAssertEqual(m.kvHeadCount, 3)
        XCTAssertEqual(m.vocabularySize, 49152)
    }

    /// Logits agree within 1e-3 × the position's largest |logit| at every position.
    func testLogitsMatchTransformers() throws {
        let loaded = try model()
        for c in try fixture().cases {
            XCTAssertEqual(loaded.tokenizer.encode(c.text, addSpecialTokens: false), c.ids, "token ids of \(c.text)")
            let tape = Tape(recording: false)
            let (hidden, _) = loaded.model.hiddenStates(TokenBatch(rows: [c.ids]), tape: tape, hooks: nil, cache: nil)
            let logits = loaded.model.logits(hidden, tape: tape).value
            let vocab = loaded.model.vocabularySize
            var worstRatio: Float = 0
            for (t, expectedRow) in c.logits.enumerated() {
                for (j, column) in c.columns.enumerated() {
                    let got = logits.floats[t * vocab + column]
                    worstRatio = max(worstRatio, abs(got - expectedRow[j]) / c.max_abs[t])
                }
            }
            XCTAssertLessThan(worstRatio, 1e-3, "\(c.text.debugDescription): max |Δlogit| / max|logit| = \(worstRatio)")
        }
    }

    /// Every weight matrix keeps its GGUF blocks (Q4_1 layers, Q8_0 embedding), and they
    /// hold exactly the values of the dequantised matrix, query and key rows included
    /// (which the loader reorders out of llama.cpp's layout).
    func testQuantizedBlocksHoldTheDequantisedWeights() throws {
        let parameters = try model().model.parameters
        let matrices = parameters.filter { $0.value.shape.count == 2 }
        XCTAssertEqual(matrices.count, 1 + 30 * 7)
        var formats: [QuantizedMatrix.Format: Int] = [:]
        for (name, weight) in matrices.sorted(by: { $0.key < $1.key }) {
            guard let blocks = weight.quantized else {
                XCTFail("\(name) has no quantised blocks")
                continue
            }
            formats[blocks.format, default: 0] += 1
            guard name.contains("layers.0.") || name.contains("layers.29.") || name.contains("embed") else { continue }
            XCTAssertEqual(blocks.dequantized().scalars, weight.value.scalars, name)
        }
        XCTAssertEqual(formats, [.q4_1: 210, .q8_0: 1])
    }

    /// The 32-token greedy continuation (KV cache decoding, multiplying from the GGUF's
    /// blocks) is identical.
    func testGreedyContinuationMatchesTransformers() throws {
        let loaded = try model()
        for c in try fixture().cases {
            let result = Generator(model: loaded.model).generate(prompt: c.ids, maxTokens: c.greedy.count)
            XCTAssertEqual(result.tokens, c.greedy, "greedy continuation of \(c.text.debugDescription)")
        }
    }
}
