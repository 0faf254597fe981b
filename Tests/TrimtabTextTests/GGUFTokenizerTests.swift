import Foundation
import XCTest
@testable import TrimtabText

/// GGUF tokenizer metadata: SmolLM2-135M-Instruct's byte-level BPE (`pre` = smollm, digits
/// split one by one as llama.cpp does) and a SentencePiece `llama` tokenizer give the
/// reference ids on the whole corpus, and byte-level decoding round-trips every text.
final class GGUFTokenizerTests: XCTestCase {
    func testSmolLM2MatchesReference() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.smolLM2Metadata())
        try assertMatchesReference(tokenizer, "smollm2")
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
        XCTAssertEqual(tokenizer.bosId, 1)
        XCTAssertEqual(tokenizer.eosId, 2)
        XCTAssertEqual(tokenizer.chatTemplate, .chatML(defaultSystemMessage: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        XCTAssertEqual(tokenizer.encode("<|im_start|>user", addSpecialTokens: false).first, 1)
    }

    func testSmolLM2RoundTrip() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.smolLM2Metadata())
        var failures: [String] = []
        for text in try TextFixtures.corpus() {
            let back = tokenizer.decode(tokenizer.encode(text, addSpecialTokens: true), skipSpecialTokens: false)
            if !back.utf8.elementsEqual(text.utf8) { failures.append("\(text.debugDescription.prefix(60)) -> \(back.debugDescription.prefix(60))") }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    func testSentencePieceLlamaMatchesReference() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.spmMetadata())
        try assertMatchesReference(tokenizer, "spm_gguf")
    }

    /// GGUF `gpt2` + `pre` = llama-bpe: the tiny Llama-3-regex tokenizer's vocabulary and
    /// merges, given as GGUF metadata, match HF's ids for its tokenizer.json.
    func testLlamaBPEPreTokenizer() throws {
        let json = try JSONSerialization.jsonObject(with: TextFixtures.data("tiny_llama3.json")) as? [String: Any]
        let model = try XCTUnwrap(json?["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        let merges = try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        var types = [Int32](repeating: 1, count: tokens.count)
        for added in try XCTUnwrap(json?["added_tokens"] as? [[String: Any]]) { types[try XCTUnwrap(added["id"] as? Int)] = 3 }
        let bos = Int32(try XCTUnwrap(vocab["<|begin_of_text|>"]))
        let meta = GGUFTokenizerMetadata(model: "gpt2", pre: "llama-bpe", tokens: tokens, tokenTypes: types, merges: merges,
                                         bosTokenId: bos, eosTokenId: Int32(try XCTUnwrap(vocab["<|eot_id|>"])),
                                         addBosToken: true)
        try assertMatchesReference(Tokenizer(gguf: meta), "llama3")
    }

    func testUnsupportedGGUF() {
        let meta = GGUFTokenizerMetadata(model: "gpt2", pre: "no-such-pre", tokens: ["a"], merges: [])
        XCTAssertThrowsError(try Tokenizer(gguf: meta)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedGGUF(field: "tokenizer.ggml.pre", value: "no-such-pre"))
        }
        XCTAssertThrowsError(try Tokenizer(gguf: GGUFTokenizerMetadata(model: "t5", tokens: ["a"])))
    }
}
