import Foundation

/// Text normalizers of HF `tokenizers` (`normalizer` in tokenizer.json).
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    /// BERT's: drop control characters and map whitespace to spaces, put spaces around
    /// CJK ideographs, strip accents (NFD, drop Mn), lower-case.
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case lowercase
    case nfc, nfd, nfkc, nfkd
    /// Drops non-spacing marks (Mn); usually after NFD.
    case stripAccents
    case strip(left: Bool, right: Bool)
    case replace(TextPattern, with: String)
    /// Prepends a string to non-empty text.
    case prepend(String)

    func normalize(_ text: String) -> String {
        switch self {
        case let .sequence(list):
            return list.reduce(text) { $1.normalize($0) }
        case let .bert(cleanText, handleChineseChars, stripAccents, lowercase):
            var out = String.UnicodeScalarView()
            for s in text.unicodeScalars {
                if cleanText {
                    if s.value == 0 || s.value == 0xFFFD || Self.isBertControl(s) { continue }
                    if s == "\t" || s == "\n" || s == "\r" || s.isWhiteSpace {
                        out.append(" ")
                        continue
                    }
                }
                if handleChineseChars && Self.isChineseChar(s) {
                    out.append(" ")
                    out.append(s)
                    out.append(" ")
                } else {
                    out.append(s)
                }
            }
            var result = String(out)
            if stripAccents { result = Normalizer.stripAccents.normalize(Normalizer.nfd.normalize(result)) }
            if lowercase { result = Normalizer.lowercase.normalize(result) }
            return result
        case .lowercase:
            // Per scalar, as Rust's `char::to_lowercase` (no context-dependent final sigma).
            var out = String.UnicodeScalarView()
            for s in text.unicodeScalars {
                if s.value < 128 {
                    out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value + 32)! : s)
                } else {
                    out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return String(out)
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .stripAccents:
            var out = String.UnicodeScalarView()
            for s in text.unicodeScalars where s.properties.generalCategory != .nonspacingMark { out.append(s) }
            return String(out)
        case let .strip(left, right):
            var scalars = Array(text.unicodeScalars)
            if right { while let last = scalars.last, last.isWhiteSpace { scalars.removeLast() } }
            if left {
                let n = scalars.prefix(while: { $0.isWhiteSpace }).count
                scalars.removeFirst(n)
            }
            return String(String.UnicodeScalarView(scalars))
        case let .replace(pattern, content):
            return pattern.replaceAll(in: text, with: content)
        case let .prepend(prefix):
            return text.isEmpty ? text : prefix + text
        }
    }

    /// `is_control` of HF's BERT normalizer: Unicode "other" categories except tab, LF, CR.
    static func isBertControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks BERT splits into single characters.
    static func isChineseChar(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
