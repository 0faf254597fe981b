import Foundation
import XCTest
@testable import TrimtabText

/// `Tokenizer(directory:)`: tokenizer.json plus tokenizer_config.json.
final class TokenizerDirectoryTests: XCTestCase {
    func testMiniLMDirectory() throws {
        let dir = try TextFixtures.cached("models/all-minilm-l6-v2")
        let tokenizer = try Tokenizer(directory: dir)
        XCTAssertEqual(tokenizer.unkId, 100)
        XCTAssertEqual(tokenizer.padId, 0)
        XCTAssertNil(tokenizer.chatTemplate)
        XCTAssertEqual(tokenizer.encode("Hello, world!"), [101, 7592, 1010, 2088, 999, 102])
    }

    func testConfigNamesSpecialTokensAndChatTemplate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: TextFixtures.url("tiny_gpt2.json"), to: dir.appendingPathComponent("tokenizer.json"))
        let config: [String: Any] = [
            "bos_token": ["content": "<mask>", "special": true], "eos_token": "<|endoftext|>",
            "chat_template": [["name": "default", "template": "{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}"]],
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try Tokenizer(directory: dir)
        XCTAssertEqual(tokenizer.bosId, 900)
        XCTAssertEqual(tokenizer.eosId, 0)
        XCTAssertEqual(tokenizer.chatTemplate, .chatML(defaultSystemMessage: "Be brief."))
    }
}
