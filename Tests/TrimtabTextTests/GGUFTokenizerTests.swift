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

    func testUnsupportedGGUF() {
        let meta = GGUFTokenizerMetadata(model: "gpt2", pre: "no-such-pre", tokens: ["a"], merges: [])
        XCTAssertThrowsError(try Tokenizer(gguf: meta)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedGGUF(field: "tokenizer.ggml.pre", value: "no-such-pre"))
        }
        XCTAssertThrowsError(try Tokenizer(gguf: GGUFTokenizerMetadata(model: "t5", tokens: ["a"])))
    }
}
