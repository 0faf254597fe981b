import Foundation
import XCTest
@testable import TrimtabText

/// tokenizer.json loading: tiny tokenizers trained with HF `tokenizers` on hamlet.txt and
/// all-minilm-l6-v2's WordPiece tokenizer give HF's exact ids on the whole corpus.
final class TokenizerJSONTests: XCTestCase {
    private func tiny(_ name: String) throws -> Tokenizer {
        try Tokenizer(contentsOf: TextFixtures.url("tiny_\(name).json"))
    }

    func testGPT2ByteLevelBPE() throws { try assertMatchesReference(tiny("gpt2"), "gpt2") }
    func testRobertaPrefixSpace() throws { try assertMatchesReference(tiny("roberta"), "roberta") }
    func testLlama3Regex() throws { try assertMatchesReference(tiny("llama3"), "llama3") }
    func testQwen2RegexAndNFC() throws { try assertMatchesReference(tiny("qwen2"), "qwen2") }
    func testSentencePieceBPEByteFallback() throws { try assertMatchesReference(tiny("spm_bpe"), "spm_bpe") }
    func testSentencePieceBPEMetaspace() throws { try assertMatchesReference(tiny("spm_bpe_metaspace"), "spm_bpe_metaspace") }
    func testUnigram() throws { try assertMatchesReference(tiny("unigram"), "unigram") }

    func testMiniLMWordPiece() throws {
        let url = try TextFixtures.cached("models/all-minilm-l6-v2/tokenizer.json")
        let tokenizer = try Tokenizer(contentsOf: url)
        try assertMatchesReference(tokenizer, "minilm")
        XCTAssertEqual(tokenizer.encode("Hello, world!"), [101, 7592, 1010, 2088, 999, 102])
        XCTAssertEqual(tokenizer.bosId, 101)
        XCTAssertEqual(tokenizer.eosId, 102)
        XCTAssertEqual(tokenizer.padId, 0)
        XCTAssertEqual(tokenizer.unkId, 100)
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.tokenToId("[MASK]"), 103)
        XCTAssertEqual(tokenizer.idToToken(7592), "hello")
    }

    func testAddedTokenFlags() throws {
        let t = try tiny("gpt2")
        let mask = try XCTUnwrap(t.tokenToId("<mask>"))
        let note = try XCTUnwrap(t.tokenToId("[[note]]"))
        // lstrip swallows the spaces before <mask>; rstrip the ones after [[note]].
        XCTAssertEqual(t.encode("a   <mask>", addSpecialTokens: false), t.encode("a", addSpecialTokens: false) + [mask])
        XCTAssertEqual(t.encode("[[note]]   b", addSpecialTokens: false), [note] + t.encode("b", addSpecialTokens: false))
        XCTAssertTrue(t.specialTokenIds.contains(mask))
        XCTAssertFalse(t.specialTokenIds.contains(note))
    }

    func testUnsupportedComponentIsNamed() throws {
        let json = #"{"normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}, "pre_tokenizer": null, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(json.utf8))) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedComponent(kind: "normalizer", type: "Precompiled"))
        }
        let badModel = #"{"model": {"type": "WordLevel", "vocab": {"a": 0}}}"#
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(badModel.utf8))) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedComponent(kind: "model", type: "WordLevel"))
        }
        let badMerge = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(badMerge.utf8))) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownToken("b", context: "merge 0 \"a b\""))
        }
    }
}
