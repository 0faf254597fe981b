import Foundation
import XCTest
@testable import TrimtabText

/// Fixtures written by `scripts/reference/tokenizers_ref.py` and the model cache of
/// `scripts/fetch-assets.sh`.
enum TextFixtures {
    struct Corpus: Decodable { let texts: [String] }

    struct ReferenceCase: Decodable {
        let ids: [Int32]
        let idsNoSpecial: [Int32]
        let decoded: String
        let decodedSkipSpecial: String
    }

    struct Reference: Decodable {
        let tokenizer: String
        let cases: [ReferenceCase]
    }

    static func url(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            XCTFail("the Fixtures resource directory is missing", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("fixture Fixtures/\(name) is missing: run scripts/reference/tokenizers_ref.py", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    static func corpus() throws -> [String] { try JSONDecoder().decode(Corpus.self, from: data("corpus.json")).texts }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: data("ids_\(name).json"))
    }

    /// A file of the model cache; fails the test loudly when it is missing.
    static func cached(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let root = ProcessInfo.processInfo.environment["TRIMTAB_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/trimtab").path
        let url = URL(fileURLWithPath: root).appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(url.path) is missing: run scripts/fetch-assets.sh", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// SmolLM2's GGUF tokenizer metadata from `smollm2_gguf.json` (merges stored as
    /// base64 little-endian uint16 token-id pairs, token types other than 1 as a map).
    static func smolLM2Metadata() throws -> GGUFTokenizerMetadata {
        struct Compact: Decodable {
            let model: String
            let pre: String
            let tokens: [String]
            let tokenTypesOtherThanNormal: [String: Int32]
            let mergesUInt16LE: String
            let bosTokenId: Int32
            let eosTokenId: Int32
            let unknownTokenId: Int32?
            let paddingTokenId: Int32?
            let addBosToken: Bool
            let addEosToken: Bool
            let chatTemplate: String
        }
        let c = try JSONDecoder().decode(Compact.self, from: data("smollm2_gguf.json"))
        guard let raw = Data(base64Encoded: c.mergesUInt16LE) else { throw CocoaError(.fileReadCorruptFile) }
        let bytes = [UInt8](raw)
        var merges: [String] = []
        merges.reserveCapacity(bytes.count / 4)
        for k in stride(from: 0, to: bytes.count, by: 4) {
            let a = Int(bytes[k]) | Int(bytes[k + 1]) << 8
            let b = Int(bytes[k + 2]) | Int(bytes[k + 3]) << 8
            merges.append(c.tokens[a] + " " + c.tokens[b])
        }
        var types = [Int32](repeating: 1, count: c.tokens.count)
        for (k, v) in c.tokenTypesOtherThanNormal { types[Int(k)!] = v }
        return GGUFTokenizerMetadata(model: c.model, pre: c.pre, tokens: c.tokens, tokenTypes: types, merges: merges,
                                     bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId, padTokenId: c.paddingTokenId,
                                     unknownTokenId: c.unknownTokenId, addBosToken: c.addBosToken,
                                     addEosToken: c.addEosToken, chatTemplate: c.chatTemplate)
    }

    /// The GGUF `llama` (SentencePiece) metadata from `spm_gguf.json`.
    static func spmMetadata() throws -> GGUFTokenizerMetadata {
        struct Compact: Decodable {
            let tokens: [String]
            let scores: [Float]
            let tokenTypes: [Int32]
            let bosTokenId: Int32
            let eosTokenId: Int32
            let unknownTokenId: Int32
            let addBosToken: Bool
            let addEosToken: Bool
        }
        let c = try JSONDecoder().decode(Compact.self, from: data("spm_gguf.json"))
        return GGUFTokenizerMetadata(model: "llama", pre: "default", tokens: c.tokens, tokenTypes: c.tokenTypes,
                                     scores: c.scores, bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId,
                                     unknownTokenId: c.unknownTokenId, addBosToken: c.addBosToken,
                                     addEosToken: c.addEosToken)
    }
}

/// Compares a tokenizer with HF's reference on the whole corpus: ids with and without
/// special tokens and both decodes. Reports the number of differing texts and the first few.
func assertMatchesReference(_ tokenizer: Tokenizer, _ name: String, checkDecode: Bool = true,
                            file: StaticString = #filePath, line: UInt = #line) throws {
    let corpus = try TextFixtures.corpus()
    let reference = try TextFixtures.reference(name)
    XCTAssertEqual(corpus.count, reference.cases.count, "\(name): corpus and reference differ in length", file: file, line: line)
    var failures: [String] = []
    var tokens = 0
    for (text, ref) in zip(corpus, reference.cases) {
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        let plain = tokenizer.encode(text, addSpecialTokens: false)
        tokens += ids.count
        if ids != ref.ids || plain != ref.idsNoSpecial {
            let firstDiff = zip(plain, ref.idsNoSpecial).enumerated().first { $1.0 != $1.1 }?.offset ?? min(plain.count, ref.idsNoSpecial.count)
            failures.append("ids of \(text.debugDescription.prefix(80)): got \(plain.count) ids, want \(ref.idsNoSpecial.count); first difference at \(firstDiff): got \(Array(plain.dropFirst(firstDiff).prefix(6))) want \(Array(ref.idsNoSpecial.dropFirst(firstDiff).prefix(6))); with specials got \(ids.prefix(3))…\(ids.suffix(2)) want \(ref.ids.prefix(3))…\(ref.ids.suffix(2))")
        }
        if checkDecode {
            let decoded = tokenizer.decode(ref.ids, skipSpecialTokens: false)
            let skipped = tokenizer.decode(ref.ids, skipSpecialTokens: true)
            if !decoded.utf8.elementsEqual(ref.decoded.utf8) { failures.append("decode of \(text.debugDescription.prefix(60)): got \(decoded.debugDescription.prefix(120)) want \(ref.decoded.debugDescription.prefix(120))") }
            if !skipped.utf8.elementsEqual(ref.decodedSkipSpecial.utf8) { failures.append("decode(skipSpecialTokens) of \(text.debugDescription.prefix(60)): got \(skipped.debugDescription.prefix(120)) want \(ref.decodedSkipSpecial.debugDescription.prefix(120))") }
        }
    }
    XCTAssertTrue(failures.isEmpty, "\(name): \(failures.count) mismatches over \(corpus.count) texts (\(tokens) tokens):\n" + failures.prefix(8).joined(separator: "\n"), file: file, line: line)
}
