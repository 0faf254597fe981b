import Foundation
import TrimtabTestSupport
import XCTest
import TrimtabModels
import TrimtabTensor

/// all-MiniLM-L6-v2 (BERT encoder, mean pooling, L2 normalisation) against
/// sentence-transformers and transformers' BertModel in float32 (fixture written by
/// scripts/reference/models_minilm.py).
final class BertReferenceTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
            let embedding: [Float]
        }
        struct Hidden: Decodable {
            let `case`: Int
            let shape: [Int]
            let data: [Float]
        }
        let max_seq_length: Int
        let cases: [Case]
        let hidden: Hidden
    }

    static let loaded: Result<SentenceEmbedder, Error> = Result {
        try SentenceEmbedder(directory: URL(fileURLWithPath: TestAssets.miniLM))
    }

    private func embedder() throws -> SentenceEmbedder {
        try TestAssets.requireFile(TestAssets.miniLM + "/model.safetensors")
        try TestAssets.requireFile(TestAssets.miniLM + "/modules.json")
        return try Self.loaded.get()
    }

    private func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "minilm_embeddings", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testConfigurationAndModules() throws {
        let e = try embedder()
        let c = e.model.configuration
        XCTAssertEqual(c.hiddenSize, 384)
        XCTAssertEqual(c.layerCount, 6)
        XCTAssertEqual(c.headCount, 12)
        XCTAssertEqual(c.intermediateSize, 1536)
        XCTAssertEqual(c.vocabularySize, 30522)
        XCTAssertEqual(c.layerNormEps, 1e-12)
        XCTAssertEqual(e.pooling, [.mean])
        XCTAssertTrue(e.normalize)
        XCTAssertEqual(e.maxSequenceLength, try fixture().max_seq_length)
        XCTAssertEqual(e.dimension, 384)
        XCTAssertEqual(e.model.linearSites.count, 6 * 6)
        XCTAssertEqual(e.model.linearSites[0].path, "encoder.layer.0.attention.self.query")
        XCTAssertNotNil(e.model.parameters["encoder.layer.5.output.LayerNorm.bias"])
    }

    /// Invalid fields are reported by their config.json name.
    func testValidationNamesTheField() throws {
        func message(_ edit: (inout BertConfiguration) -> Void) -> String {
            var c = BertConfiguration(vocabularySize: 10, hiddenSize: 8, layerCount: 1, headCount: 2,
                                      intermediateSize: 16)
            edit(&c)
            do {
                try c.validate(source: "config.json")
                return ""
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message { _ in }, "")
        XCTAssertTrue(message { $0.hiddenActivation = "relu" }.contains("'hidden_act'"))
        XCTAssertTrue(message { $0.headCount = 3 }.contains("'num_attention_heads'"))
        XCTAssertTrue(message { $0.layerNormEps = 0 }.contains("'layer_norm_eps'"))
        XCTAssertTrue(message { $0.positionEmbeddingType = "relative_key" }.contains("'position_embedding_type'"))
        XCTAssertTrue(message { $0.maxPositions = 0 }.contains("'max_position_embeddings'"))

        let json = #"{"model_type": "bert", "vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16}"#
        XCTAssertThrowsError(try JSONDecoder().decode(BertConfiguration.self, from: Data(json.utf8))) { error in
            XCTAssertTrue("\(error)".contains("num_hidden_layers"), "\(error)")
        }
    }

    /// The ids sentence-transformers fed the model, truncation to 256 included.
    func testTokenizationMatchesSentenceTransformers() throws {
        let e = try embedder()
        for c in try fixture().cases {
            XCTAssertEqual(e.tokenize(c.text), c.ids, "token ids of \(c.text.prefix(60).debugDescription)")
        }
    }

    /// Every embedding (all texts in one padded batch, and in batches of 3) has cosine
    /// ≥ 0.9999 with sentence-transformers'.
    func testEmbeddingsMatchSentenceTransformers() throws {
        let e = try embedder()
        let cases = try fixture().cases
        for batchSize in [cases.count, 3] {
            let got = try e.embed(cases.map(\.text), batchSize: batchSize)
            XCTAssertEqual(got.count, cases.count)
            var minCosine: Double = 1, maxDiff: Float = 0
            for (c, v) in zip(cases, got) {
                XCTAssertEqual(v.count, 384)
                let cosine = Self.cosine(v, c.embedding)
                minCosine = min(minCosine, cosine)
                maxDiff = max(maxDiff, zip(v, c.embedding).map { abs($0 - $1) }.max() ?? 0)
                XCTAssertGreaterThanOrEqual(cosine, 0.9999, "cosine for \(c.text.prefix(60).debugDescription)")
                XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1, accuracy: 1e-5)
            }
            print("BertReferenceTests: batch size \(batchSize): min cosine 1 − \(1 - minCosine), max |Δ| \(maxDiff)")
        }
    }

    /// transformers' BertModel last_hidden_state of one sentence, alone and padded in a
    /// batch with the 256-token text.
    func testHiddenStatesMatchTransformers() throws {
        let e = try embedder()
        let f = try fixture()
        let ids = f.cases[f.hidden.case].ids
        let long = try XCTUnwrap(f.cases.max { $0.ids.count < $1.ids.count }).ids
        XCTAssertEqual(f.hidden.shape, [ids.count, 384])
        for (label, rows) in [("alone", [ids]), ("padded", [long, ids])] {
            let batch = TokenBatch(rows: rows)
            let (hidden, virtualCount) = e.model.hiddenStates(batch, tape: Tape(recording: false))
            XCTAssertEqual(virtualCount, 0)
            XCTAssertEqual(hidden.shape, [rows.count, batch.length, 384])
            let row = rows.count - 1
            let start = row * batch.length * 384
            let got = Array(UnsafeBufferPointer(start: hidden.value.floats + start, count: ids.count * 384))
            let maxDiff = zip(got, f.hidden.data).map { abs($0 - $1) }.max() ?? .infinity
            print("BertReferenceTests: hidden states \(label): max |Δ| \(maxDiff)")
            XCTAssertLessThan(maxDiff, 1e-4, "hidden states \(label)")
        }
    }

    /// The hooks see every linear layer and both block outputs of every layer, and
    /// identity hooks leave the output unchanged (random small encoder, no files).
    func testHooksSeeEverySite() throws {
        let c = BertConfiguration(vocabularySize: 50, hiddenSize: 16, layerCount: 2, headCount: 4,
                                  intermediateSize: 32, maxPositions: 16)
        let model = try BertModel(configuration: c, weights: BertModel.randomWeights(c, seed: 7), source: "random")
        let batch = TokenBatch(rows: [[1, 5, 9, 2], [1, 7, 2]])
        let plain = model.hiddenStates(batch, tape: Tape(recording: false)).hidden.value
        let hooks = RecordingHooks()
        let hooked = model.hiddenStates(batch, tape: Tape(recording: false), hooks: hooks).hidden.value
        XCTAssertEqual(plain.scalars, hooked.scalars)
        XCTAssertEqual(hooks.linearPaths, model.linearSites.map(\.path))
        XCTAssertEqual(hooks.linearPaths.count, 12)
        XCTAssertEqual(hooks.blocks, [BlockSite(layer: 0, part: .attention), BlockSite(layer: 0, part: .feedForward),
                                      BlockSite(layer: 1, part: .attention), BlockSite(layer: 1, part: .feedForward)])
        XCTAssertEqual(hooks.inputEmbeddingCalls, 1)
    }

    private final class RecordingHooks: ModelHooks {
        var linearPaths: [String] = []
        var blocks: [BlockSite] = []
        var inputEmbeddingCalls = 0

        func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
            inputEmbeddingCalls += 1
            return InputEmbeddings(embeddings: embeddings)
        }

        func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable {
            linearPaths.append(site.path)
            return base
        }

        func blockOutput(_ site: BlockSite, _ output: Variable, tape: Tape) -> Variable {
            blocks.append(site)
            return output
        }
    }

    private static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot: Double = 0, na: Double = 0, nb: Double = 0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
}
