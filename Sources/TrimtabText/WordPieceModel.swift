import Foundation

/// WordPiece as in BERT (HF `models/wordpiece`): greedy longest-match-first over the
/// scalars of a word, continuation pieces carry `##`; a word with no full cover, or longer
/// than `maxInputCharsPerWord`, becomes the unknown token.
final class WordPieceModel: TokenizerModel, @unchecked Sendable {
    let vocab: Vocabulary
    let unkId: Int32?
    private let prefix: String
    private let maxInputCharsPerWord: Int

    init(vocab: Vocabulary, unkToken: String, continuingSubwordPrefix: String, maxInputCharsPerWord: Int) throws {
        self.vocab = vocab
        guard let unk = vocab[unkToken] else { throw TokenizerError.unknownToken(unkToken, context: "model.unk_token") }
        unkId = unk
        prefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToId(_ token: String) -> Int32? { vocab[token] }
    func idToToken(_ id: Int32) -> String? { vocab.token(id) }

    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        guard let unkId else { return }
        if piece.count > maxInputCharsPerWord {
            ids.append(unkId)
            return
        }
        var found: [Int32] = []
        var start = 0
        while start < piece.count {
            var end = piece.count
            var match: Int32? = nil
            while start < end {
                var candidate = start > 0 ? prefix : ""
                candidate.unicodeScalars.append(contentsOf: piece[start..<end])
                if let id = vocab[candidate] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let id = match else {
                ids.append(unkId)
                return
            }
            found.append(id)
            start = end
        }
        ids.append(contentsOf: found)
    }
}
