import Foundation
import XCTest
@testable import TrimtabText

/// Incremental decoding: chunks concatenate to the full decode and never split a character.
final class StreamingDecoderTests: XCTestCase {
    private func check(_ tokenizer: Tokenizer, _ label: String, skipSpecialTokens: Bool = false) throws {
        var failures: [String] = []
        var splitCharacters = 0
        for text in try TextFixtures.corpus() {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            var stream = tokenizer.makeStreamingDecoder(skipSpecialTokens: skipSpecialTokens)
            var chunks: [String] = []
            for id in ids { chunks.append(stream.append(id)) }
            chunks.append(stream.finish())
            let whole = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
            let joined = chunks.joined()
            if !joined.utf8.elementsEqual(whole.utf8) {
                failures.append("\(text.debugDescription.prefix(60)): streamed \(joined.debugDescription.prefix(80)) != \(whole.debugDescription.prefix(80))")
            }
            if !whole.unicodeScalars.contains("\u{FFFD}") {
                splitCharacters += chunks.filter { $0.unicodeScalars.contains("\u{FFFD}") }.count
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(label): \(failures.count) mismatches\n" + failures.prefix(5).joined(separator: "\n"))
        XCTAssertEqual(splitCharacters, 0, "\(label): chunks with a broken character")
    }

    func testByteLevelSmolLM2() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.smolLM2Metadata())
        try check(tokenizer, "smollm2")
        try check(tokenizer, "smollm2 skipping specials", skipSpecialTokens: true)
    }

    func testSentencePieceByteFallback() throws {
        try check(Tokenizer(contentsOf: TextFixtures.url("tiny_spm_bpe.json")), "spm_bpe")
        try check(Tokenizer(gguf: TextFixtures.spmMetadata()), "spm_gguf")
    }

    func testMetaspaceAndWordPiece() throws {
        try check(Tokenizer(contentsOf: TextFixtures.url("tiny_unigram.json")), "unigram")
        try check(Tokenizer(contentsOf: TextFixtures.cached("models/all-minilm-l6-v2/tokenizer.json")), "minilm")
    }

    func testEmojiArrivesWhole() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.smolLM2Metadata())
        let ids = tokenizer.encode("🦀", addSpecialTokens: false)
        XCTAssertGreaterThan(ids.count, 1, "the crab emoji should take several byte tokens")
        var stream = tokenizer.makeStreamingDecoder()
        let chunks = ids.map { stream.append($0) }
        XCTAssertEqual(chunks.dropLast(), Array(repeating: "", count: ids.count - 1))
        XCTAssertEqual(chunks.last, "🦀")
    }
}
