import Foundation
import XCTest
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
@_exported import TrimtabTestSupport
import TrimtabText
@testable import TrimtabTrain

/// A tiny tokenizer and model for fast tests.
enum TinySetup {
    /// The byte-level BPE of `Fixtures/tiny_tokenizer.json` (384 tokens, ChatML specials),
    /// with EOS `<|endoftext|>` and the ChatML chat format.
    static func tokenizer() throws -> Tokenizer {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_tokenizer", withExtension: "json"))
        var t = try Tokenizer(contentsOf: url)
        t.eosId = t.tokenToId("<|endoftext|>")
        t.chatTemplate = .chatML
        return t
    }

    static let configuration = LlamaConfiguration(
        vocabularySize: 384, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4, kvHeadCount: 2,
        rmsNormEps: 1e-5, ropeTheta: 10_000, maxPositions: 512, tieWordEmbeddings: false)

    /// A random Llama over the tiny vocabulary. The output head (std 1 instead of 0.02) and
    /// the attention's value and output projections (std 0.2) are scaled up: with
    /// transformers' initialisation every distribution is near uniform and what attention
    /// adds to the residual stream is tiny, so no adapter could lower the loss much.
    static func model(seed: UInt64 = 7, trainable: (String) -> Bool = { _ in false }) throws -> LlamaModel {
        let weights = LlamaModel.randomWeights(configuration, seed: seed)
        for (name, tensor) in weights {
            let scale: Float = name == "lm_head.weight" ? 50 : name.hasSuffix("v_proj.weight") || name.hasSuffix("o_proj.weight") ? 10 : 1
            for i in 0..<tensor.count { tensor.floats[i] *= scale }
        }
        return try LlamaModel(configuration: configuration, weights: weights, source: "tiny", trainable: trainable)
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-train-tests-\(getpid())")
            .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A small sentiment set the tiny model can learn: the review's words decide the label.
    static func sentimentExamples(count: Int, seed: UInt64 = 1) -> [Example] {
        var rng = SplitMix64(seed: seed)
        let good = ["great", "good", "wonderful", "loved it"], bad = ["bad", "awful", "boring", "hated it"]
        let fillers = ["a movie", "the story", "acting", "far too long", "the dog"]
        return (0..<count).map { _ in
            let positive = rng.next() % 2 == 0
            let words = positive ? good : bad
            var text = words[Int(rng.next() % UInt64(words.count))]
            for _ in 0..<Int(rng.next() % 3) { text += ", " + fillers[Int(rng.next() % UInt64(fillers.count))] }
            return .classification(text: text, label: positive ? "positive" : "negative")
        }
    }
}

/// A test-only soft prompt: `P` trainable rows put before the input embeddings.
final class SoftPrompt: Adapter {
    let prompt: Variable
    var isTraining = false
    var peftType: String { "PROMPT_TUNING" }
    var trainableParameters: [String: Variable] { ["prompt_embeddings": prompt] }

    init(virtualTokens: Int, hiddenSize: Int, seed: UInt64 = 3) {
        var rng = SplitMix64(seed: seed)
        let t = Tensor(zeros: [1, virtualTokens, hiddenSize])
        for i in 0..<t.count { t.floats[i] = rng.nextNormal() * 0.5 }
        prompt = Variable(t, requiresGrad: true, name: "prompt_embeddings")
    }

    func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
        InputEmbeddings(embeddings: tape.concatSequence([prompt, embeddings]), virtualCount: prompt.shape[1])
    }

    func exportedTensors() -> [String: Tensor] {
        ["prompt_embeddings": prompt.value.reshaped([prompt.shape[1], prompt.shape[2]])]
    }

    func encodedConfiguration() throws -> Data {
        Data("{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": \(prompt.shape[1])}".utf8)
    }
}

/// Asserts `body` throws a ``DatasetError`` whose description contains every fragment.
func assertDatasetError<T>(_ body: @autoclosure () throws -> T, _ expected: DatasetError? = nil, contains fragments: [String] = [],
                           file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("no error thrown", file: file, line: line)
    } catch let error as DatasetError {
        if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        for f in fragments {
            XCTAssertTrue(error.description.contains(f), "\"\(error.description)\" lacks \"\(f)\"", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
