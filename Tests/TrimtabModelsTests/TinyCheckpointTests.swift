import Foundation
import XCTest
import TrimtabModels
import TrimtabTensor

/// GPT-2, Qwen2 (tied and untied) and Llama on tiny random checkpoints that transformers
/// wrote, against transformers' float32 logits and greedy continuations (fixtures from
/// scripts/reference/models_tiny.py).
final class TinyCheckpointTests: XCTestCase {
    struct Fixture: Decodable {
        struct Model: Decodable {
            /// `[T, V]` logits of `ids[0]`.
            let single: [[Float]]
            /// `[row][t][V]` logits of the right-padded batch `ids[1...]`, real positions only.
            let batch: [[[Float]]]
            /// 16-token greedy continuation of each of `ids`.
            let greedy: [[Int32]]
            let greedy_min_margin: Float
        }
        let texts: [String]
        let ids: [[Int32]]
        let models: [String: Model]
    }

    static let names = ["gpt2", "qwen2_tied", "qwen2_untied", "llama"]
    static let tolerance: Float = 1e-4

    static let fixture: Result<Fixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "tiny_logits", withExtension: "json", subdirectory: "Fixtures")
        else { throw CocoaError(.fileNoSuchFile) }
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static let loaded: [String: Result<LoadedModel, Error>] = Dictionary(uniqueKeysWithValues: names.map { name in
        (name, Result { try ModelLoader.load(directory(name).path) })
    })

    static func directory(_ name: String) -> URL {
        (Bundle.module.resourceURL ?? URL(fileURLWithPath: "."))
            .appendingPathComponent("Fixtures/tiny/\(name)", isDirectory: true)
    }

    private func model(_ name: String) throws -> LoadedModel {
        try XCTUnwrap(Self.loaded[name]).get()
    }

    /// Logits `[B, T, V]` of a full forward pass (no cache).
    private func logits(_ model: LanguageModel, _ batch: TokenBatch) -> Tensor {
        let tape = Tape(recording: false)
        let (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: nil, cache: nil)
        return model.logits(hidden, tape: tape).value
    }

    /// Largest |a[i] − b[i]| over `b.count` entries of `a`.
    private func maxDifference(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        var worst: Float = 0
        for (i, expected) in b.enumerated() { worst = max(worst, abs(a[i] - expected)) }
        return worst
    }

    private func maxDifference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var worst: Float = 0
        for i in 0..<count { worst = max(worst, abs(a[i] - b[i])) }
        return worst
    }

    func testConfigurationsFromConfigJSON() throws {
        let gpt2 = try XCTUnwrap(model("gpt2").model as? GPT2Model)
        XCTAssertEqual(gpt2.architecture, "gpt2")
        XCTAssertEqual(gpt2.configuration.intermediateSize, 4 * 32, "n_inner null means 4·n_embd")
        XCTAssertEqual(gpt2.configuration.maxPositions, 64)
        XCTAssertEqual(gpt2.configuration.activation, .tanh)
        XCTAssertEqual(gpt2.headCount, 4)
        XCTAssertEqual(gpt2.kvHeadCount, 4)
        XCTAssertEqual(gpt2.linearSites.map(\.path).prefix(4),
                       ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                        "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj"])
        XCTAssertEqual(gpt2.linearSites.first?.outFeatures, 96)
        // Conv1D weights are held as [out, in].
        XCTAssertEqual(gpt2.parameters["transformer.h.1.mlp.c_fc.weight"]?.shape, [128, 32])
        XCTAssertEqual(gpt2.parameters.count, 4 + 12 * 2)

        for name in ["qwen2_tied", "qwen2_untied"] {
            let qwen = try XCTUnwrap(model(name).model as? LlamaModel)
            XCTAssertEqual(qwen.architecture, "qwen2")
            XCTAssertEqual(qwen.kvHeadCount, 2)
            XCTAssertEqual(qwen.configuration.ropeTheta, 1_000_000, "rope_parameters.rope_theta of \(name)")
            XCTAssertTrue(qwen.configuration.attentionBias)
        }
        let llama = try XCTUnwrap(model("llama").model as? LlamaModel)
        XCTAssertFalse(llama.configuration.tieWordEmbeddings)
        XCTAssertNotNil(llama.parameters["lm_head.weight"])
    }

    func testTokenizersMatchTransformers() throws {
        let f = try Self.fixture.get()
        for name in Self.names {
            let tokenizer = try model(name).tokenizer
            for (text, ids) in zip(f.texts, f.ids) {
                XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), ids, "\(name): ids of \(text)")
            }
        }
    }

    /// Full logits of a single sequence and of a right-padded batch agree with
    /// transformers within 1e-4 at every real position.
    func testLogitsMatchTransformers() throws {
        let f = try Self.fixture.get()
        for name in Self.names {
            let m = try model(name).model
            let expected = try XCTUnwrap(f.models[name])
            let vocab = m.vocabularySize

            let single = logits(m, TokenBatch(rows: [f.ids[0]]))
            var worstSingle: Float = 0
            for (t, row) in expected.single.enumerated() {
                worstSingle = max(worstSingle, maxDifference(single.floats + t * vocab, row))
            }

            let rows = Array(f.ids[1...])
            let batch = TokenBatch(rows: rows, padId: 0)
            let padded = logits(m, batch)
            var worstBatch: Float = 0
            for (r, rowLogits) in expected.batch.enumerated() {
                XCTAssertEqual(rowLogits.count, rows[r].count)
                for (t, row) in rowLogits.enumerated() {
                    worstBatch = max(worstBatch, maxDifference(padded.floats + (r * batch.length + t) * vocab, row))
                }
            }
            print("\(name): max |Δlogit| single \(worstSingle), padded batch \(worstBatch)")
            XCTAssertLessThan(worstSingle, Self.tolerance, "\(name): single sequence")
            XCTAssertLessThan(worstBatch, Self.tolerance, "\(name): padded batch")
        }
    }

    /// Every row of a right-padded batch equals that row run alone.
    func testPaddedBatchRowsEqualUnpaddedRows() throws {
        let f = try Self.fixture.get()
        for name in Self.names {
            let m = try model(name).model
            let vocab = m.vocabularySize
            let batch = TokenBatch(rows: f.ids, padId: 0)
            let padded = logits(m, batch)
            var worst: Float = 0
            for (r, row) in f.ids.enumerated() {
                let alone = logits(m, TokenBatch(rows: [row]))
                worst = max(worst, maxDifference(padded.floats + r * batch.length * vocab, alone.floats,
                                                 count: row.count * vocab))
            }
            print("\(name): max |Δlogit| padded row vs alone \(worst)")
            XCTAssertLessThan(worst, 1e-5, "\(name): padded rows differ from the rows alone")
        }
    }

    /// The 16-token greedy continuation (KV-cache decoding through `Generator`) is the one
    /// transformers' `generate()` produced.
    func testGreedyContinuationMatchesTransformers() throws {
        let f = try Self.fixture.get()
        for name in Self.names {
            let m = try model(name).model
            let expected = try XCTUnwrap(f.models[name])
            for (prompt, greedy) in zip(f.ids, expected.greedy) {
                let result = Generator(model: m).generate(prompt: prompt, maxTokens: greedy.count)
                XCTAssertEqual(result.tokens, greedy,
                               "\(name): greedy continuation of \(prompt) (min top-2 margin \(expected.greedy_min_margin))")
            }
        }
    }

    /// Decoding with a KV cache, one token per step for a right-padded batch of three
    /// rows, gives at every step the logits of a full forward pass over each row's prompt
    /// and the tokens fed so far.
    func testKVCacheDecodingEqualsFullForward() throws {
        let f = try Self.fixture.get()
        let steps = 6
        for name in Self.names {
            let m = try model(name).model
            let expected = try XCTUnwrap(f.models[name])
            let vocab = m.vocabularySize
            let prompts = f.ids
            let tape = Tape(recording: false)
            let prompt = TokenBatch(rows: prompts, padId: 0)
            let cache = m.makeCache(batchSize: prompts.count, capacity: prompt.length + steps)
            var (hidden, _) = m.hiddenStates(prompt, tape: tape, hooks: nil, cache: cache)
            var worst: Float = 0
            for step in 0...steps {
                let cached = m.logits(hidden, tape: tape).value
                let t = cached.shape[1]
                for (r, row) in prompts.enumerated() {
                    let sequence = row + expected.greedy[r].prefix(step)
                    let full = logits(m, TokenBatch(rows: [sequence]))
                    // The prefill's last real position of row r, or the step's single position.
                    let position = step == 0 ? row.count - 1 : 0
                    let got = cached.floats + (r * t + position) * vocab
                    worst = max(worst, maxDifference(got, full.floats + (sequence.count - 1) * vocab, count: vocab))
                }
                if step == steps { break }
                let next = prompts.indices.map { [expected.greedy[$0][step]] }
                (hidden, _) = m.hiddenStates(TokenBatch(rows: next), tape: tape, hooks: nil, cache: cache)
            }
            print("\(name): max |Δlogit| KV-cache step vs full forward \(worst)")
            XCTAssertLessThan(worst, Self.tolerance, "\(name): cached decoding differs from a full forward")
        }
    }

    /// Trainable weights own their memory (checkpoint tensors borrow a read-only map, and
    /// an optimizer writes into them).
    func testTrainableWeightsAreWritable() throws {
        for name in Self.names {
            let m = try ModelLoader.load(Self.directory(name).path, trainable: { _ in true }).model
            for (key, p) in m.parameters {
                p.value.floats[0] += 1
                XCTAssertTrue(p.requiresGrad, "\(name): \(key)")
            }
        }
    }

    // MARK: - GPT-2 specifics

    /// Gradients through the transposed Conv1D weights, the split of the fused q/k/v
    /// projection and the position table agree with central finite differences of the
    /// loss.
    func testGPT2GradientsMatchFiniteDifferences() throws {
        let f = try Self.fixture.get()
        let names = ["transformer.h.0.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias",
                     "transformer.h.0.mlp.c_fc.weight", "transformer.h.1.attn.c_proj.weight",
                     "transformer.wpe.weight", "transformer.ln_f.bias"]
        let m = try ModelLoader.load(Self.directory("gpt2").path, trainable: { names.contains($0) }).model
        let rows = Array(f.ids[1...])
        let batch = TokenBatch(rows: rows, padId: 0)
        // Next-token targets; padding and each row's last position do not count.
        var targets = [Int32](repeating: -100, count: batch.batchSize * batch.length)
        for (r, row) in rows.enumerated() {
            for t in 0..<(row.count - 1) { targets[r * batch.length + t] = row[t + 1] }
        }
        func loss(_ tape: Tape) -> Variable {
            let (hidden, _) = m.hiddenStates(batch, tape: tape, hooks: nil, cache: nil)
            return tape.crossEntropy(m.logits(hidden, tape: tape), targets: targets)
        }
        let tape = Tape()
        tape.backward(from: loss(tape))
        let eps: Float = 1e-2
        var worst: Float = 0
        for name in names {
            let p = try XCTUnwrap(m.parameters[name])
            let grad = try XCTUnwrap(p.grad, "no gradient reached \(name)")
            let n = p.value.count
            // Query, key and value thirds of c_attn, and a spread of other entries.
            for index in Set([0, n / 3 + 1, 2 * n / 3 + 2, n - 1, n / 2 + 5]) {
                let saved = p.value.floats[index]
                p.value.floats[index] = saved + eps
                let plus = loss(Tape(recording: false)).value.scalars[0]
                p.value.floats[index] = saved - eps
                let minus = loss(Tape(recording: false)).value.scalars[0]
                p.value.floats[index] = saved
                let numeric = (plus - minus) / (2 * eps)
                let error = abs(grad.floats[index] - numeric) / max(1e-2, abs(numeric))
                worst = max(worst, error)
                XCTAssertLessThan(error, 2e-2, "\(name)[\(index)]: tape \(grad.floats[index]), numeric \(numeric)")
            }
        }
        print("gpt2: max relative gradient error vs finite differences \(worst)")
    }

    /// Virtual tokens from the input-embedding hook get learned positions like real
    /// tokens: prepending the embeddings of some ids equals running them as real tokens.
    func testGPT2VirtualTokensTakeLeadingPositions() throws {
        let f = try Self.fixture.get()
        let m = try model("gpt2").model
        let wte = try XCTUnwrap(m.parameters["transformer.wte.weight"])
        let virtualIds: [Int32] = [17, 42, 99]
        final class Prepend: ModelHooks {
            let table: Variable, ids: [Int32]
            init(table: Variable, ids: [Int32]) { self.table = table; self.ids = ids }
            func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
                let virtual = tape.embedding(table, ids: ids, shape: [1, ids.count])
                return InputEmbeddings(embeddings: tape.concatSequence([virtual, embeddings]), virtualCount: ids.count)
            }
        }
        let tape = Tape(recording: false)
        let row = f.ids[0]
        let (hooked, virtualCount) = m.hiddenStates(TokenBatch(rows: [row]), tape: tape,
                                                    hooks: Prepend(table: wte, ids: virtualIds), cache: nil)
        XCTAssertEqual(virtualCount, virtualIds.count)
        let (plain, _) = m.hiddenStates(TokenBatch(rows: [virtualIds + row]), tape: tape, hooks: nil, cache: nil)
        XCTAssertEqual(hooked.shape, plain.shape)
        let worst = maxDifference(hooked.value.floats, plain.value.floats, count: plain.value.count)
        XCTAssertLessThan(worst, 1e-5)
    }

    /// bf16 weight matrices (transposed as 2-byte elements) stay close to the f32 logits.
    func testGPT2LoadsBF16Matrices() throws {
        let f = try Self.fixture.get()
        let m = try ModelLoader.load(Self.directory("gpt2").path, matrixType: .bf16).model
        XCTAssertEqual(m.parameters["transformer.h.0.attn.c_attn.weight"]?.value.dtype, .bf16)
        let got = logits(m, TokenBatch(rows: [f.ids[0]]))
        let expected = try XCTUnwrap(f.models["gpt2"]).single
        var worst: Float = 0
        for (t, row) in expected.enumerated() {
            worst = max(worst, maxDifference(got.floats + t * m.vocabularySize, row))
        }
        print("gpt2 bf16: max |Δlogit| \(worst)")
        XCTAssertLessThan(worst, 0.15, "bf16 logits drift from f32 (max |logit| ≈ 8)")
    }
}
