import Foundation

/// SentencePiece BPE driven by piece scores, as llama.cpp runs GGUF `llama` tokenizers
/// (`llm_tokenizer_spm` in llama-vocab.cpp).
///
/// Each scalar starts as a symbol; the adjacent pair whose concatenation is a vocabulary
/// piece with the highest score is merged (leftmost first among equal scores) until none
/// is left. Symbols that are not pieces become their `<0xXX>` byte tokens (or unknown).
final class SentencePieceBPEModel: TokenizerModel, @unchecked Sendable {
    let vocab: Vocabulary
    private let scores: [Float]
    let unkId: Int32?
    private let byteIds: [Int32?]
    private let cache = WordCache()

    init(tokens: [String], scores: [Float], unkId: Int32?) {
        vocab = Vocabulary(tokens: tokens)
        self.scores = scores
        self.unkId = unkId
        byteIds = vocab.byteTokenIds()
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToId(_ token: String) -> Int32? { vocab[token] }
    func idToToken(_ id: Int32) -> String? { vocab.token(id) }

    private struct Bigram {
        var score: Float
        var left: Int
        var right: Int
        var size: Int  // scalars
    }

    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        if piece.isEmpty { return }
        let key = String(String.UnicodeScalarView(piece))
        if let hit = cache.get(key) {
            ids.append(contentsOf: hit)
            return
        }
        let n = piece.count
        let start = Array(0..<n)
        var length = [Int](repeating: 1, count: n)
        var prev = (0..<n).map { $0 - 1 }
        var next = (0..<n).map { $0 + 1 }
        next[n - 1] = -1
        var queue: [Bigram] = []  // max-heap by (score, -left)
        func before(_ a: Bigram, _ b: Bigram) -> Bool {
            a.score > b.score || (a.score == b.score && a.left < b.left)
        }
        func push(_ b: Bigram) {
            queue.append(b)
            var i = queue.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if !before(queue[i], queue[p]) { break }
                queue.swapAt(i, p)
                i = p
            }
        }
        func pop() -> Bigram? {
            guard !queue.isEmpty else { return nil }
            let top = queue[0]
            let last = queue.removeLast()
            if !queue.isEmpty {
                queue[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < queue.count && before(queue[l], queue[m]) { m = l }
                    if r < queue.count && before(queue[r], queue[m]) { m = r }
                    if m == i { break }
                    queue.swapAt(m, i)
                    i = m
                }
            }
            return top
        }
        func text(_ from: Int, _ count: Int) -> String {
            String(String.UnicodeScalarView(piece[from..<(from + count)]))
        }
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = length[left] + length[right]
            guard let id = vocab[text(start[left], size)] else { return }
            push(Bigram(score: scores[Int(id)], left: left, right: right, size: size))
        }
        for i in 1..<n { tryAdd(i - 1, i) }
        while let b = pop() {
            guard length[b.left] > 0, length[b.right] > 0, length[b.left] + length[b.right] == b.size else { continue }
            length[b.left] += length[b.right]
            length[b.right] = 0
            next[b.left] = next[b.right]
            if next[b.right] >= 0 { prev[next[b.right]] = b.left }
            tryAdd(prev[b.left], b.left)
            tryAdd(b.left, next[b.left])
        }
        var out: [Int32] = []
        var i = 0
        while i >= 0 {
            let t = text(start[i], length[i])
            if let id = vocab[t] {
                out.append(id)
            } else {
                for byte in t.utf8 {
                    if let id = byteIds[Int(byte)] ?? unkId { out.append(id) }
                }
            }
            i = next[i]
        }
        cache.set(key, out)
        ids.append(contentsOf: out)
    }
}
