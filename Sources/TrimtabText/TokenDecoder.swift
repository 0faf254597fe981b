import Foundation

/// Decoders of HF `tokenizers` (`decoder` in tokenizer.json): turn token strings back into text.
indirect enum TokenDecoder: Sendable {
    case sequence([TokenDecoder])
    /// Maps `ByteLevelAlphabet` scalars back to bytes and decodes UTF-8 (lossy).
    case byteLevel
    /// Joins pieces, `##` continuations glued, others after a space; optional cleanup of
    /// spaces before punctuation and contractions.
    case wordPiece(prefix: String, cleanup: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case replace(TextPattern, with: String)
    /// Runs of `<0xXX>` tokens become the UTF-8 text they spell (or U+FFFD per byte).
    case byteFallback
    /// Concatenates all tokens into one.
    case fuse
    /// Removes up to `start`/`stop` copies of `content` from each token's ends.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// Classic BPE: the end-of-word suffix becomes a space.
    case bpe(suffix: String)

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case let .sequence(list):
            return list.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                if let b = ByteLevelAlphabet.decode(t) { bytes += b } else { bytes += Array(t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { i, token in
                var t = token
                if i != 0 {
                    if t.hasBytePrefix(prefix) { t = t.droppingBytes(prefix.utf8.count) } else { t = " " + t }
                }
                return cleanup ? Self.cleanUp(t) : t
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, token in
                var out = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if i == 0 && scheme != .never { continue }
                        out.append(" ")
                    } else {
                        out.append(c)
                    }
                }
                return String(out)
            }
        case let .replace(pattern, content):
            return tokens.map { pattern.replaceAll(in: $0, with: content) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending.removeAll()
            }
            for t in tokens {
                let u = Array(t.utf8)
                if u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,
                   let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)
                var from = 0
                while from < min(start, chars.count) && chars[from] == content { from += 1 }
                var to = chars.count
                var stripped = 0
                while stripped < stop && to > from && chars[to - 1] == content {
                    to -= 1
                    stripped += 1
                }
                return String(String.UnicodeScalarView(chars[from..<to]))
            }
        case let .bpe(suffix):
            return tokens.enumerated().map { i, t in
                TextPattern.string(suffix).replaceAll(in: t, with: i == tokens.count - 1 ? "" : " ")
            }
        }
    }

    /// HF's `cleanup` of WordPiece output (from the original BERT `clean_up_tokenization`).
    static func cleanUp(_ s: String) -> String {
        var t = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                       (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            t = TextPattern.string(a).replaceAll(in: t, with: b)
        }
        return t
    }
}
