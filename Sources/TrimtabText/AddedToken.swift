import Foundation

/// A token matched in the raw text before the model runs (HF `AddedToken`).
///
/// Special tokens (`special`) are dropped by `decode(_:skipSpecialTokens: true)`.
/// `lstrip`/`rstrip` make the match swallow the whitespace on its left/right,
/// `singleWord` only matches when no word character touches it, and `normalized`
/// tokens are matched in the normalized text instead of the raw text.
public struct AddedToken: Sendable, Equatable {
    /// The token's text.
    public var content: String
    /// Its id.
    public var id: Int32
    /// Whether it is a special (control) token.
    public var special: Bool
    /// Swallow whitespace on the left.
    public var lstrip: Bool
    /// Swallow whitespace on the right.
    public var rstrip: Bool
    /// Match only as a whole word.
    public var singleWord: Bool
    /// Match in the normalized text rather than the raw text.
    public var normalized: Bool

    /// Creates an added token; the defaults are those of a special token.
    public init(content: String, id: Int32, special: Bool = true, lstrip: Bool = false, rstrip: Bool = false,
                singleWord: Bool = false, normalized: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized
    }
}
