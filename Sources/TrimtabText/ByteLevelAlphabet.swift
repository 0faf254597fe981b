import Foundation

/// GPT-2's reversible map between the 256 byte values and printable Unicode scalars
/// (`bytes_to_unicode` in openai/gpt-2 `encoder.py`): printable Latin-1 bytes map to
/// themselves, the others to U+0100 upwards (space is `Ġ`, newline `Ċ`).
enum ByteLevelAlphabet {
    /// The scalar standing for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// UTF-8 bytes of `scalarForByte[b]`, for building strings without per-scalar work.
    static let utf8ForByte: [[UInt8]] = scalarForByte.map { Array(String($0).utf8) }

    /// The byte each alphabet scalar stands for, keyed by scalar value.
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// Maps the UTF-8 bytes of `scalars` to an alphabet string.
    static func encode<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        let table = utf8ForByte
        for s in scalars {
            UTF8.encode(s) { b in out.append(contentsOf: table[Int(b)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Maps an alphabet string back to bytes; nil when a scalar is outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byteForScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
