import Foundation

/// Finds added tokens in text the way HF `AddedVocabulary::find_matches` does:
/// leftmost-longest matches, then `singleWord`, `lstrip` and `rstrip` applied to each.
struct AddedTokenSplitter: Sendable {
    private let tokens: [AddedToken]
    private let patterns: [[Unicode.Scalar]]
    /// Token indices by first scalar, longest pattern first.
    private let byFirstScalar: [UInt32: [Int]]

    /// `tokens` with their match patterns (the content, or its normalized form).
    init(_ tokens: [(token: AddedToken, pattern: String)]) {
        let kept = tokens.filter { !$0.pattern.isEmpty }
        self.tokens = kept.map(\.token)
        let pats = kept.map { Array($0.pattern.unicodeScalars) }
        patterns = pats
        var index: [UInt32: [Int]] = [:]
        for (i, p) in pats.enumerated() { index[p[0].value, default: []].append(i) }
        for key in index.keys {
            index[key]!.sort { (pats[$0].count, -$0) > (pats[$1].count, -$1) }
        }
        byFirstScalar = index
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `s` into ranges of plain text (id nil) and added tokens (their id).
    func split(_ s: [Unicode.Scalar]) -> [(range: Range<Int>, id: Int32?)] {
        if tokens.isEmpty || s.isEmpty { return [(0..<s.count, nil)] }
        var out: [(range: Range<Int>, id: Int32?)] = []
        var done = 0  // end of the last emitted piece
        var i = 0
        while i < s.count {
            guard let candidates = byFirstScalar[s[i].value],
                  let k = candidates.first(where: { matches(patterns[$0], s, at: i) }) else {
                i += 1
                continue
            }
            let token = tokens[k]
            var start = i
            var stop = i + patterns[k].count
            if token.singleWord {
                let leftOK = start == 0 || !s[start - 1].isWordCharacter
                let rightOK = stop == s.count || !s[stop].isWordCharacter
                if !(leftOK && rightOK) {
                    i += 1
                    continue
                }
            }
            if token.lstrip {
                var j = start
                while j > 0 && s[j - 1].isWhiteSpace { j -= 1 }
                start = max(j, done)
            }
            if token.rstrip {
                while stop < s.count && s[stop].isWhiteSpace { stop += 1 }
            }
            if done < start { out.append((done..<start, nil)) }
            out.append((start..<stop, token.id))
            done = stop
            i = stop
        }
        if done < s.count { out.append((done..<s.count, nil)) }
        return out
    }

    private func matches(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + p.count <= s.count else { return false }
        for j in 1..<p.count where s[i + j] != p[j] { return false }
        return true
    }
}
