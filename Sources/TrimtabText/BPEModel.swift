import Foundation

/// Byte-pair encoding as HF `tokenizers` runs it (`models/bpe/model.rs`, `word.rs`).
///
/// Each scalar of a pre-token starts as its own symbol (with the continuing-subword prefix
/// and end-of-word suffix where set; bytes `<0xXX>` or the unknown token when it is not in
/// the vocabulary); then the adjacent pair with the lowest merge rank is merged, leftmost
/// first, until no pair has a merge. A heap keeps this O(n log n) for long pre-tokens
/// (SentencePiece-style BPE tokenizes whole lines); repeated words hit a cache.
final class BPEModel: TokenizerModel, @unchecked Sendable {
    let vocab: Vocabulary
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    /// Ids of single-scalar tokens, for the common case with no prefix/suffix.
    private let scalarIds: [UInt32: Int32]
    private let byteIds: [Int32?]
    let unkId: Int32?
    private let fuseUnk: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    private let prefix: String?
    private let suffix: String?
    private let cache = WordCache()

    /// The merges in priority order, as token pairs (for writing a tokenizer.json).
    var orderedMerges: [(String, String)] {
        merges.sorted { $0.value >> 32 < $1.value >> 32 }.compactMap { key, _ in
            let a = Int(Int32(bitPattern: UInt32(truncatingIfNeeded: key >> 32)))
            let b = Int(Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
            guard a < vocab.tokens.count, b < vocab.tokens.count, let ta = vocab.tokens[a], let tb = vocab.tokens[b] else {
                return nil
            }
            return (ta, tb)
        }
    }

    /// Whether this is plain byte-level BPE (no unknown token, prefixes, byte fallback),
    /// and whether whole pre-tokens found in the vocabulary skip merging.
    var byteLevelSettings: (plain: Bool, ignoreMerges: Bool) {
        (unkId == nil && prefix == nil && suffix == nil && !byteFallback && !fuseUnk, ignoreMerges)
    }

    /// `merges` are token pairs in priority order.
    init(vocab: Vocabulary, merges: [(String, String)], unkToken: String?, fuseUnk: Bool, byteFallback: Bool,
         ignoreMerges: Bool, continuingSubwordPrefix: String?, endOfWordSuffix: String?) throws {
        self.vocab = vocab
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        let prefixBytes = continuingSubwordPrefix?.utf8.count ?? 0
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b] else {
                throw TokenizerError.unknownToken(vocab[a] == nil ? a : b, context: "merge \(rank) \"\(a) \(b)\"")
            }
            // The merged token drops the right part's continuing-subword prefix.
            let merged = a + (prefixBytes > 0 && b.hasBytePrefix(continuingSubwordPrefix!) ? b.droppingBytes(prefixBytes) : b)
            guard let im = vocab[merged] else {
                throw TokenizerError.unknownToken(merged, context: "merge \(rank) \"\(a) \(b)\"")
            }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: im))  // a repeated pair keeps its last rank, as in HF
        }
        self.merges = table
        var single: [UInt32: Int32] = [:]
        for (id, t) in vocab.tokens.enumerated() {
            guard let t else { continue }
            var it = t.unicodeScalars.makeIterator()
            if let s = it.next(), it.next() == nil, vocab[t] == Int32(id) { single[s.value] = Int32(id) }
        }
        scalarIds = single
        byteIds = vocab.byteTokenIds()
        if let unkToken {
            guard let id = vocab[unkToken] else { throw TokenizerError.unknownToken(unkToken, context: "model.unk_token") }
            unkId = id
        } else {
            unkId = nil
        }
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        prefix = continuingSubwordPrefix.flatMap { $0.isEmpty ? nil : $0 }
        suffix = endOfWordSuffix.flatMap { $0.isEmpty ? nil : $0 }
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToId(_ token: String) -> Int32? { vocab[token] }
    func idToToken(_ id: Int32) -> String? { vocab.token(id) }

    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        if piece.isEmpty { return }
        let key = String(String.UnicodeScalarView(piece))
        if ignoreMerges, let id = vocab[key] {
            ids.append(id)
            return
        }
        if let hit = cache.get(key) {
            ids.append(contentsOf: hit)
            return
        }
        var symbols = initialSymbols(piece)
        if symbols.count > 1 { merge(&symbols) }
        cache.set(key, symbols)
        ids.append(contentsOf: symbols)
    }

    private func initialSymbols(_ piece: [Unicode.Scalar]) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(piece.count)
        var pendingUnk = false
        let plain = prefix == nil && suffix == nil
        for (i, s) in piece.enumerated() {
            var text: String? = nil
            let id: Int32?
            if plain {
                id = scalarIds[s.value]
            } else {
                var t = i > 0 ? (prefix ?? "") : ""
                t.unicodeScalars.append(s)
                if i == piece.count - 1, let suffix { t += suffix }
                text = t
                id = vocab[t]
            }
            if let id {
                if pendingUnk, let unkId { out.append(unkId) }
                pendingUnk = false
                out.append(id)
                continue
            }
            if byteFallback {
                let bytes = Array((text ?? String(s)).utf8)
                let found = bytes.compactMap { byteIds[Int($0)] }
                if found.count == bytes.count {
                    // HF adds the byte tokens without flushing a pending unknown token first.
                    out.append(contentsOf: found)
                    continue
                }
            }
            if let unkId {
                if pendingUnk && !fuseUnk { out.append(unkId) }
                pendingUnk = true
            }
        }
        if pendingUnk, let unkId { out.append(unkId) }
        return out
    }

    /// Applies merges in rank order (leftmost first among equal ranks): a direct scan for
    /// short words, a heap over a linked list for long ones (same result: both always
    /// merge the current lowest-rank pair, leftmost first).
    private func merge(_ symbols: inout [Int32]) {
        if symbols.count <= 32 {
            mergeShort(&symbols)
        } else {
            mergeLong(&symbols)
        }
    }

    @inline(__always)
    private func lookup(_ a: Int32, _ b: Int32) -> UInt64? {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
    }

    private func mergeShort(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(symbols.count - 1) {
                if let m = lookup(symbols[i], symbols[i + 1]), m < best {
                    best = m
                    at = i
                }
            }
            if at < 0 { return }
            symbols[at] = Int32(truncatingIfNeeded: best)
            symbols.remove(at: at + 1)
        }
    }

    private func mergeLong(_ symbols: inout [Int32]) {
        let n = symbols.count
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i + 1) }
            b[n - 1] = -1
            c = n
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i - 1) }
            c = n
        }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = lookup(symbols[i], symbols[i + 1]) { heap.push(rank: m >> 32, pos: i, newId: Int32(truncatingIfNeeded: m)) }
        }
        while let top = heap.pop() {
            let pos = top.pos
            guard alive[pos], next[pos] >= 0 else { continue }
            let nx = Int(next[pos])
            guard let m = lookup(symbols[pos], symbols[nx]), Int32(truncatingIfNeeded: m) == top.newId else { continue }
            symbols[pos] = top.newId
            alive[nx] = false
            next[pos] = next[nx]
            if next[nx] >= 0 { prev[Int(next[nx])] = Int32(pos) }
            if prev[pos] >= 0, let m = lookup(symbols[Int(prev[pos])], symbols[pos]) {
                heap.push(rank: m >> 32, pos: Int(prev[pos]), newId: Int32(truncatingIfNeeded: m))
            }
            if next[pos] >= 0, let m = lookup(symbols[pos], symbols[Int(next[pos])]) {
                heap.push(rank: m >> 32, pos: pos, newId: Int32(truncatingIfNeeded: m))
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        for i in 0..<n where alive[i] { out.append(symbols[i]) }
        symbols = out
    }
}

/// Binary min-heap of pending merges ordered by (rank, position).
struct MergeHeap {
    private var keys: [UInt64] = []
    private var ids: [Int32] = []

    mutating func push(rank: UInt64, pos: Int, newId: Int32) {
        keys.append(rank << 32 | UInt64(pos))
        ids.append(newId)
        var i = keys.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if keys[p] <= keys[i] { break }
            keys.swapAt(p, i)
            ids.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> (pos: Int, newId: Int32)? {
        guard !keys.isEmpty else { return nil }
        let top = (pos: Int(keys[0] & 0xFFFF_FFFF), newId: ids[0])
        let lastKey = keys.removeLast()
        let lastId = ids.removeLast()
        if !keys.isEmpty {
            keys[0] = lastKey
            ids[0] = lastId
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < keys.count && keys[l] < keys[m] { m = l }
                if r < keys.count && keys[r] < keys[m] { m = r }
                if m == i { break }
                keys.swapAt(m, i)
                ids.swapAt(m, i)
                i = m
            }
        }
        return top
    }
}
