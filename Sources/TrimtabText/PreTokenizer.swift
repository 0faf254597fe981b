import Foundation

/// A piece of text on its way to the model: its scalars and whether it starts at the
/// very beginning of the input (Metaspace's `prepend_scheme: first` needs that).
struct PreToken {
    var scalars: [Unicode.Scalar]
    var atStart: Bool

    func slice(_ r: Range<Int>) -> PreToken {
        PreToken(scalars: Array(scalars[r]), atStart: atStart && r.lowerBound == 0)
    }
}

/// HF `SplitDelimiterBehavior`: what happens to the matched delimiters of a split.
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// HF `NormalizedString::split`: turns a covering of matches into the kept ranges.
    func apply(_ cover: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        switch self {
        case .isolated:
            return cover.map(\.range)
        case .removed:
            return cover.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var out: [Range<Int>] = []
            var previous = false
            for (r, m) in cover {
                if m == previous, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previous = m
            }
            return out
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previous = false
            for (r, m) in cover {
                if m && !previous, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previous = m
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previous = false
            for (r, m) in cover.reversed() {
                if m && !previous, let last = out.last {
                    out[out.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    out.append(r)
                }
                previous = m
            }
            return out.reversed()
        }
    }
}

/// Metaspace's rule for putting the replacement in front of a word.
enum PrependScheme: String, Sendable {
    case always, never, first
}

/// Pre-tokenizers of HF `tokenizers` (`pre_tokenizer` in tokenizer.json): split normalized
/// text into the pieces the model tokenizes independently.
indirect enum PreTokenizer: Sendable {
    case sequence([PreTokenizer])
    /// GPT-2's: optional leading space, the GPT-2 regex, then bytes mapped to `ByteLevelAlphabet`.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(TextPattern, behavior: SplitBehavior, invert: Bool)
    /// Numbers apart from the rest: each digit alone (`individual`) or digit runs.
    case digits(individual: Bool)
    /// SentencePiece's: spaces become `replacement`, optionally prepended, words split before it.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// BERT's: split on whitespace (dropped) and punctuation (kept alone).
    case bert
    /// `\w+|[^\w\s]+`.
    case whitespace
    /// Split on whitespace.
    case whitespaceSplit
    case punctuation(SplitBehavior)

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        switch self {
        case let .sequence(list):
            return list.reduce(pieces) { $1.preTokenize($0) }
        default:
            var out: [PreToken] = []
            out.reserveCapacity(pieces.count * 4)
            for piece in pieces { apply(piece, into: &out) }
            return out
        }
    }

    private func apply(_ piece: PreToken, into out: inout [PreToken]) {
        func emit(_ p: PreToken, _ ranges: [Range<Int>]) {
            for r in ranges where !r.isEmpty { out.append(p.slice(r)) }
        }
        switch self {
        case .sequence:
            out.append(contentsOf: preTokenize([piece]))
        case let .byteLevel(addPrefixSpace, useRegex):
            var p = piece
            if addPrefixSpace, let first = p.scalars.first, first != " " { p.scalars.insert(" ", at: 0) }
            let ranges = useRegex ? PatternScanner.gpt2(p.scalars) : [0..<p.scalars.count]
            for r in ranges where !r.isEmpty {
                let mapped = ByteLevelAlphabet.encode(p.scalars[r])
                out.append(PreToken(scalars: Array(mapped.unicodeScalars), atStart: p.atStart && r.lowerBound == 0))
            }
        case let .split(pattern, behavior, invert):
            var cover = pattern.cover(piece.scalars)
            if invert { cover = cover.map { ($0.range, !$0.isMatch) } }
            emit(piece, behavior.apply(cover))
        case let .digits(individual):
            let cover = Self.charCover(piece.scalars) { $0.isNumeric }
            emit(piece, (individual ? SplitBehavior.isolated : .contiguous).apply(cover))
        case let .metaspace(replacement, scheme, split):
            var p = piece
            p.scalars = p.scalars.map { $0 == " " ? replacement : $0 }
            if let first = p.scalars.first, first != replacement,
               scheme == .always || (scheme == .first && p.atStart) {
                p.scalars.insert(replacement, at: 0)
            }
            if split {
                emit(p, SplitBehavior.mergedWithNext.apply(Self.charCover(p.scalars) { $0 == replacement }))
            } else if !p.scalars.isEmpty {
                out.append(p)
            }
        case .bert:
            var words: [PreToken] = []
            let spaced = SplitBehavior.removed.apply(Self.charCover(piece.scalars) { $0.isWhiteSpace })
            for r in spaced where !r.isEmpty { words.append(piece.slice(r)) }
            for w in words {
                emit(w, SplitBehavior.isolated.apply(Self.charCover(w.scalars) { $0.isBertPunctuation }))
            }
        case .whitespace:
            var ranges: [Range<Int>] = []
            let s = piece.scalars
            var i = 0
            while i < s.count {
                if s[i].isWhiteSpace {
                    i += 1
                    continue
                }
                let word = s[i].isWordCharacter
                var e = i + 1
                while e < s.count && !s[e].isWhiteSpace && s[e].isWordCharacter == word { e += 1 }
                ranges.append(i..<e)
                i = e
            }
            emit(piece, ranges)
        case .whitespaceSplit:
            emit(piece, SplitBehavior.removed.apply(Self.charCover(piece.scalars) { $0.isWhiteSpace }))
        case let .punctuation(behavior):
            emit(piece, behavior.apply(Self.charCover(piece.scalars) { $0.isBertPunctuation }))
        }
    }

    /// HF's `find_matches` for a character predicate: every matching scalar is its own match.
    static func charCover(_ s: [Unicode.Scalar], _ isMatch: (Unicode.Scalar) -> Bool) -> [(range: Range<Int>, isMatch: Bool)] {
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var start = 0
        for (i, c) in s.enumerated() where isMatch(c) {
            if start < i { out.append((start..<i, false)) }
            out.append((i..<(i + 1), true))
            start = i + 1
        }
        if start < s.count { out.append((start..<s.count, false)) }
        return out
    }
}
