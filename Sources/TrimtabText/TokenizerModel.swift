import Foundation

/// The model stage of a tokenizer: turns one pre-token into ids.
protocol TokenizerModel: Sendable {
    /// Appends the ids of one pre-token.
    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32])
    func tokenToId(_ token: String) -> Int32?
    func idToToken(_ id: Int32) -> String?
    /// One past the largest id.
    var vocabularySize: Int { get }
    var unkId: Int32? { get }
}

/// A token ↔ id table shared by the models.
struct Vocabulary: Sendable {
    private let ids: [ExactString: Int32]
    let tokens: [String?]

    /// From token → id pairs (a tokenizer.json vocabulary).
    init(_ pairs: [(String, Int32)]) {
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(pairs.count)
        var tokens = [String?](repeating: nil, count: Int(pairs.map(\.1).max() ?? -1) + 1)
        for (t, id) in pairs where id >= 0 {
            ids[ExactString(t)] = id
            tokens[Int(id)] = t
        }
        self.ids = ids
        self.tokens = tokens
    }

    /// From tokens indexed by id (GGUF, Unigram); a repeated token keeps its first id.
    init(tokens: [String]) {
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[ExactString(t)] == nil { ids[ExactString(t)] = Int32(i) }
        self.ids = ids
        self.tokens = tokens
    }

    /// The id of a token, compared byte for byte.
    subscript(token: String) -> Int32? { ids[ExactString(token)] }

    func token(_ id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    /// The ids of `<0x00>`…`<0xFF>` byte tokens (SentencePiece byte fallback).
    func byteTokenIds() -> [Int32?] {
        (0..<256).map { self[String(format: "<0x%02X>", $0)] }
    }
}

/// A small thread-safe memo of pre-token → ids, cleared when full (HF caches 10 000 words).
final class WordCache: @unchecked Sendable {
    private var map: [ExactString: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func get(_ key: String) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return map[ExactString(key)]
    }

    func set(_ key: String, _ value: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[ExactString(key)] = value
    }
}
