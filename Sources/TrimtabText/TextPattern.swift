import Foundation

/// A `Split`/`Replace` pattern: a literal string or a regex.
///
/// The pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2 run on `PatternScanner`'s
/// hand-written matchers; any other regex runs on `NSRegularExpression` (ICU), whose
/// syntax covers what tokenizer.json files use (`\p{L}`, look-ahead, `(?i:...)`).
enum TextPattern: @unchecked Sendable {
    case string(String)
    case gpt2, llama3, qwen2
    case regex(NSRegularExpression)

    /// Builds a regex pattern, recognising the known pre-tokenizer regexes.
    static func regex(_ source: String, path: String) throws -> TextPattern {
        switch source {
        case PatternScanner.gpt2Pattern: return .gpt2
        case PatternScanner.llama3Pattern: return .llama3
        case PatternScanner.qwen2Pattern: return .qwen2
        default:
            do {
                return .regex(try NSRegularExpression(pattern: source))
            } catch {
                throw TokenizerError.invalidField(path: path, reason: "regex \(source) does not compile: \(error)")
            }
        }
    }

    /// Builds the pattern of a `{"String": ...}` / `{"Regex": ...}` JSON object.
    static func from(_ node: JSONNode) throws -> TextPattern {
        if let s = node["String"].optionalString { return .string(s) }
        if let r = node["Regex"].optionalString { return try regex(r, path: node.path + ".Regex") }
        throw node.invalid("expected {\"String\": ...} or {\"Regex\": ...}")
    }

    /// The matches in `s` as scalar ranges, in order, non-overlapping.
    func matches(in s: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .gpt2: return PatternScanner.gpt2(s)
        case .llama3: return PatternScanner.llama3(s, digitsPerMatch: 3)
        case .qwen2: return PatternScanner.llama3(s, digitsPerMatch: 1)
        case let .string(literal):
            let p = Array(literal.unicodeScalars)
            guard !p.isEmpty, p.count <= s.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + p.count <= s.count {
                if s[i] == p[0] && Array(s[i..<(i + p.count)]) == p {
                    out.append(i..<(i + p.count))
                    i += p.count
                } else {
                    i += 1
                }
            }
            return out
        case let .regex(re):
            let text = String(String.UnicodeScalarView(s))
            // UTF-16 offset -> scalar index
            var scalarAt = [Int](repeating: 0, count: text.utf16.count + 1)
            var u = 0
            for (k, scalar) in s.enumerated() {
                let w = scalar.utf16.count
                for d in 0..<w { scalarAt[u + d] = k }
                u += w
            }
            scalarAt[u] = s.count
            return re.matches(in: text, range: NSRange(location: 0, length: u)).compactMap { m in
                let r = m.range
                guard r.location != NSNotFound else { return nil }
                return scalarAt[r.location]..<scalarAt[r.location + r.length]
            }
        }
    }

    /// HF's `find_matches`: the whole of `s` as consecutive ranges, each flagged as a match or not.
    func cover(_ s: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var prev = 0
        for m in matches(in: s) {
            if prev != m.lowerBound { out.append((prev..<m.lowerBound, false)) }
            out.append((m, true))
            prev = m.upperBound
        }
        if prev != s.count { out.append((prev..<s.count, false)) }
        return out
    }

    /// Replaces every match with `content`.
    func replaceAll(in text: String, with content: String) -> String {
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var prev = 0
        for m in matches(in: s) {
            out.append(contentsOf: s[prev..<m.lowerBound])
            out.append(contentsOf: content.unicodeScalars)
            prev = m.upperBound
        }
        out.append(contentsOf: s[prev...])
        return String(out)
    }
}
