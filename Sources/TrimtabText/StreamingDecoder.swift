import Foundation

/// Turns generated ids into text one id at a time without ever emitting half a character.
///
/// Each step decodes a short window of recent ids and returns the text past what the
/// window's earlier ids already produced, once it does not end in U+FFFD (an incomplete
/// UTF-8 sequence from byte tokens). Decoders that look at neighbouring tokens (the
/// leading-space strip of SentencePiece, WordPiece's `##`) see the same context as a full
/// decode, so the concatenated chunks equal `decode(allIds)` (after `finish()`).
/// The approach is HF `tokenizers`' `DecodeStream`.
public struct StreamingDecoder: Sendable {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var ids: [Int32] = []
    private var prefix = ""
    private var prefixIndex = 0

    /// Creates a decoder for `tokenizer`; prefer `Tokenizer.makeStreamingDecoder`.
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the new complete text (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        if prefix.isEmpty && !ids.isEmpty {
            let p = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
            if p.unicodeScalars.last != "\u{FFFD}" {
                prefix = p
                prefixIndex = ids.count
            }
        }
        ids.append(id)
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        guard text.utf8.count > prefix.utf8.count, text.unicodeScalars.last != "\u{FFFD}" else { return "" }
        let fresh = Self.suffix(of: text, after: prefix)
        let newPrefixIndex = ids.count - prefixIndex
        ids.removeFirst(prefixIndex)
        prefix = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        prefixIndex = newPrefixIndex
        return fresh
    }

    /// Returns whatever is still held back (an incomplete character at the end of
    /// generation comes out as U+FFFD) and resets the decoder.
    public mutating func finish() -> String {
        defer {
            ids = []
            prefix = ""
            prefixIndex = 0
        }
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        return text.utf8.count > prefix.utf8.count ? Self.suffix(of: text, after: prefix) : ""
    }

    /// `text` past `prefix`; if a decoder rewrote earlier text, past their common prefix.
    private static func suffix(of text: String, after prefix: String) -> String {
        let t = Array(text.unicodeScalars), p = Array(prefix.unicodeScalars)
        var k = 0
        while k < p.count && k < t.count && t[k] == p[k] { k += 1 }
        return String(String.UnicodeScalarView(t[k...]))
    }
}
