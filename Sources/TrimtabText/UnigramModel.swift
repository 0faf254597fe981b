import Foundation

/// SentencePiece Unigram as HF `tokenizers` runs it (`models/unigram/model.rs`,
/// `encode_optimized`, after sentencepiece's `unigram_model.cc`): Viterbi over all vocabulary
/// pieces that start at each position, scored by log-probability; a character no piece
/// covers costs `minScore - 10` as the unknown token. Adjacent unknowns fuse; with byte
/// fallback an unknown span becomes its `<0xXX>` byte tokens.
final class UnigramModel: TokenizerModel, @unchecked Sendable {
    let vocab: Vocabulary
    private let scores: [Double]
    let unkId: Int32?
    private let byteFallback: Bool
    private let fuseUnk: Bool
    private let byteIds: [Int32?]
    private let maxPieceScalars: Int
    private let unkScore: Double
    private let cache = WordCache()

    init(pieces: [(String, Double)], unkId: Int?, byteFallback: Bool, fuseUnk: Bool = true) throws {
        vocab = Vocabulary(tokens: pieces.map(\.0))
        scores = pieces.map(\.1)
        if let unkId {
            guard unkId >= 0 && unkId < pieces.count else {
                throw TokenizerError.invalidField(path: "model.unk_id", reason: "\(unkId) is outside the vocabulary of \(pieces.count)")
            }
            self.unkId = Int32(unkId)
        } else {
            self.unkId = nil
        }
        self.byteFallback = byteFallback
        self.fuseUnk = fuseUnk
        byteIds = vocab.byteTokenIds()
        maxPieceScalars = pieces.map { $0.0.unicodeScalars.count }.max() ?? 1
        unkScore = (scores.min() ?? 0) - 10
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToId(_ token: String) -> Int32? { vocab[token] }
    func idToToken(_ id: Int32) -> String? { vocab.token(id) }

    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        if piece.isEmpty { return }
        let key = String(String.UnicodeScalarView(piece))
        if let hit = cache.get(key) {
            ids.append(contentsOf: hit)
            return
        }
        var out: [Int32] = []
        for text in viterbi(piece) {
            if let id = vocab[text] {
                out.append(id)
                continue
            }
            if byteFallback {
                let bytes = Array(text.utf8)
                let found = bytes.compactMap { byteIds[Int($0)] }
                if found.count == bytes.count {
                    out.append(contentsOf: found)
                    continue
                }
            }
            if let unkId { out.append(unkId) }
        }
        cache.set(key, out)
        ids.append(contentsOf: out)
    }

    /// The best segmentation of `s` as piece strings.
    private func viterbi(_ s: [Unicode.Scalar]) -> [String] {
        let n = s.count
        var bestScore = [Double](repeating: 0, count: n + 1)
        var startsAt = [Int](repeating: -1, count: n + 1)
        var bestId = [Int32](repeating: -1, count: n + 1)
        for start in 0..<n {
            let base = bestScore[start]
            var hasSingle = false
            var candidate = String()
            for end in (start + 1)...min(n, start + maxPieceScalars) {
                candidate.unicodeScalars.append(s[end - 1])
                guard let id = vocab[candidate] else { continue }
                let score = scores[Int(id)] + base
                if startsAt[end] < 0 || score > bestScore[end] {
                    bestScore[end] = score
                    startsAt[end] = start
                    bestId[end] = id
                }
                if end == start + 1 { hasSingle = true }
            }
            if !hasSingle {
                let score = unkScore + base
                if startsAt[start + 1] < 0 || score > bestScore[start + 1] {
                    bestScore[start + 1] = score
                    startsAt[start + 1] = start
                    bestId[start + 1] = unkId ?? -1
                }
            }
        }
        var pieces: [String] = []
        var unkRun: [String] = []
        var end = n
        while end > 0 {
            let start = startsAt[end]
            let text = String(String.UnicodeScalarView(s[start..<end]))
            if fuseUnk, let unkId, bestId[end] == unkId {
                unkRun.append(text)
            } else {
                if !unkRun.isEmpty {
                    pieces.append(unkRun.reversed().joined())
                    unkRun.removeAll()
                }
                pieces.append(text)
            }
            end = start
        }
        if !unkRun.isEmpty { pieces.append(unkRun.reversed().joined()) }
        return pieces.reversed()
    }
}
