import Foundation

/// Hand-written matchers for the pre-tokenizer regexes used by byte-level BPE models.
///
/// Each function returns the regex's successive matches over `s` as scalar-index ranges,
/// exactly as a backtracking engine (Oniguruma in HF `tokenizers`) finds them: at each
/// position the first alternative that matches wins. Together the matches cover the text.
///
/// GPT-2:   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// Qwen2:   the Llama 3 pattern with `\p{N}` (one digit at a time) instead of `\p{N}{1,3}`.
enum PatternScanner {
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// GPT-2's pattern (also ByteLevel's `use_regex`).
    static func gpt2(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        let c = s.map(ScalarClass.of)
        let n = s.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        while i < n {
            let end = gpt2Match(s, c, i)
            out.append(i..<end)
            i = end
        }
        return out
    }

    private static func gpt2Match(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ i: Int) -> Int {
        let n = s.count
        if s[i] == "'", let len = contraction(s, i, caseInsensitive: false) { return i + len }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let j = (s[i] == " " && i + 1 < n && c[i + 1] != .whitespace) ? i + 1 : i
        if c[j] != .whitespace {
            let cls = c[j]
            var e = j + 1
            while e < n && c[e] == cls { e += 1 }
            return e
        }
        return whitespaceTail(c, i)
    }

    /// Llama 3's pattern (`digitsPerMatch` 3) or Qwen2's (1).
    static func llama3(_ s: [Unicode.Scalar], digitsPerMatch: Int = 3) -> [Range<Int>] {
        let c = s.map(ScalarClass.of)
        let n = s.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        while i < n {
            let end = llama3Match(s, c, i, digitsPerMatch)
            out.append(i..<end)
            i = end
        }
        return out
    }

    @inline(__always)
    private static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    private static func llama3Match(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ i: Int, _ digits: Int) -> Int {
        let n = s.count
        if s[i] == "'", let len = contraction(s, i, caseInsensitive: true) { return i + len }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        var j = i
        if c[i] != .letter && c[i] != .number && !isNewline(s[i]) && i + 1 < n && c[i + 1] == .letter { j = i + 1 }
        if c[j] == .letter {
            var e = j + 1
            while e < n && c[e] == .letter { e += 1 }
            return e
        }
        // `\p{N}{1,digits}`
        if c[i] == .number {
            var e = i + 1
            while e < n && e - i < digits && c[e] == .number { e += 1 }
            return e
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        j = (s[i] == " " && i + 1 < n && c[i + 1] == .other) ? i + 1 : i
        if c[j] == .other {
            var e = j + 1
            while e < n && c[e] == .other { e += 1 }
            while e < n && isNewline(s[e]) { e += 1 }
            return e
        }
        // `\s*[\r\n]+`: up to the last newline of the whitespace run.
        var e = i
        while e < n && c[e] == .whitespace { e += 1 }
        var k = e - 1
        while k >= i && !isNewline(s[k]) { k -= 1 }
        if k >= i { return k + 1 }
        return whitespaceTail(c, i)
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar: the run, less its last scalar when a
    /// non-space follows and the run is longer than one.
    @inline(__always)
    private static func whitespaceTail(_ c: [ScalarClass], _ i: Int) -> Int {
        var e = i + 1
        while e < c.count && c[e] == .whitespace { e += 1 }
        if e == c.count || e - i == 1 { return e }
        return e - 1
    }

    /// Length of `'s|'t|'re|'ve|'m|'ll|'d` at `i` (an apostrophe), or nil.
    private static func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int? {
        guard i + 1 < s.count else { return nil }
        func fold(_ x: Unicode.Scalar) -> Unicode.Scalar {
            guard caseInsensitive else { return x }
            if x.value == 0x17F { return "s" }  // ſ folds to s
            if x.value >= 0x41 && x.value <= 0x5A { return Unicode.Scalar(x.value + 32)! }
            return x
        }
        let a = fold(s[i + 1])
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        guard i + 2 < s.count else { return nil }
        let b = fold(s[i + 2])
        if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        return nil
    }
}
