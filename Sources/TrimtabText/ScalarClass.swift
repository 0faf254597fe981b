import Foundation

/// The character classes the pre-tokenizer regexes distinguish: `\p{L}`, `\p{N}`, `\s` and the rest.
///
/// `\s` is the Unicode White_Space property (what Oniguruma and Rust's `regex` use);
/// letters are the L* general categories, numbers Nd, Nl and No.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    private static let ascii: [ScalarClass] = (0..<128).map { v in
        let s = Unicode.Scalar(UInt8(v))
        if s.properties.isWhitespace { return .whitespace }
        if (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) { return .letter }
        if (0x30...0x39).contains(v) { return .number }
        return .other
    }

    /// The class of one scalar (table lookup for ASCII).
    @inline(__always)
    static func of(_ s: Unicode.Scalar) -> ScalarClass {
        let v = s.value
        if v < 128 { return ascii[Int(v)] }
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}

extension Unicode.Scalar {
    /// Rust's `char::is_numeric` (general categories Nd, Nl, No).
    var isNumeric: Bool { ScalarClass.of(self) == .number }

    /// Rust's `char::is_whitespace` (the White_Space property).
    var isWhiteSpace: Bool { properties.isWhitespace }

    /// Unicode punctuation (P* general categories).
    var isPunctuation: Bool {
        switch properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// BERT's punctuation: ASCII punctuation (which includes `$+<=>^`|~`) or Unicode P*.
    var isBertPunctuation: Bool {
        let v = value
        if v < 128 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v)
        }
        return isPunctuation
    }

    /// Regex `\w` in Rust's `regex` crate: Alphabetic, marks, Nd, Pc, Join_Control.
    var isWordCharacter: Bool {
        let p = properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
