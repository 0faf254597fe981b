import Foundation

/// A string key compared by its exact UTF-8 bytes.
///
/// Swift's `String` equality and hashing treat canonically equivalent strings (`é` and
/// `e` + U+0301) as equal; HF `tokenizers` compares bytes, so vocabularies, caches and
/// added tokens are keyed by this instead.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }

    static func == (a: ExactString, b: ExactString) -> Bool {
        a.value.utf8.elementsEqual(b.value.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var s = value
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Prefix test on UTF-8 bytes (not grapheme clusters: `"##ि"` starts with `"##"`).
    func hasBytePrefix(_ prefix: String) -> Bool {
        utf8.starts(with: prefix.utf8)
    }

    /// The string without its first `n` UTF-8 bytes (`n` must end on a scalar boundary).
    func droppingBytes(_ n: Int) -> String {
        String(decoding: utf8.dropFirst(n), as: UTF8.self)
    }
}
