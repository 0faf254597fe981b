import Foundation
import XCTest
@testable import TrimtabText

/// The hand-written GPT-2 / Llama 3 / Qwen2 pre-tokenizer scanners find the same matches
/// as a regex engine (ICU's, through NSRegularExpression) running the original patterns,
/// on random strings mixing letters, digits, marks, spaces, newlines and punctuation.
final class PatternScannerTests: XCTestCase {
    // ICU's `\s` lacks U+000B and U+0085 (White_Space, which Oniguruma and the scanners
    // use), so the pool leaves them out.
    private let pool: [Unicode.Scalar] = [
        "a", "b", "s", "t", "r", "e", "v", "m", "l", "d", "S", "T", "R", "E", "L", "D", "é", "ж", "中", "ß",
        "0", "1", "9", "٣", "½", "Ⅻ", " ", " ", " ", "\t", "\n", "\r", "\u{00A0}", "\u{3000}",
        "'", "'", ".", "!", "-", "(", "😀", "\u{0301}", "\u{200B}", "_", "$",
    ]

    func testScannersAgreeWithRegexEngine() throws {
        let patterns: [(String, String)] = [
            ("gpt2", PatternScanner.gpt2Pattern), ("llama3", PatternScanner.llama3Pattern), ("qwen2", PatternScanner.qwen2Pattern),
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        for (name, source) in patterns {
            let scanner = try TextPattern.regex(source, path: name)
            let engine = TextPattern.regex(try NSRegularExpression(pattern: source))
            var mismatches: [String] = []
            for _ in 0..<1500 {
                let s = (0..<next(40)).map { _ in pool[next(pool.count)] }
                let got = scanner.matches(in: s)
                let want = engine.matches(in: s)
                if got != want {
                    mismatches.append("\(String(String.UnicodeScalarView(s)).debugDescription): \(got) != \(want)")
                }
            }
            XCTAssertTrue(mismatches.isEmpty, "\(name): \(mismatches.count) of 1500 differ\n" + mismatches.prefix(5).joined(separator: "\n"))
        }
    }

    func testKnownSplits() throws {
        func pieces(_ p: TextPattern, _ text: String) -> [String] {
            let s = Array(text.unicodeScalars)
            return p.matches(in: s).map { String(String.UnicodeScalarView(s[$0])) }
        }
        XCTAssertEqual(pieces(.gpt2, "I'm  here 123!\n"), ["I", "'m", " ", " here", " 123", "!", "\n"])
        XCTAssertEqual(pieces(.llama3, "I'M 12345 ok\n\n x"), ["I", "'M", " ", "123", "45", " ok", "\n\n", " x"])
        XCTAssertEqual(pieces(.qwen2, "a 12"), ["a", " ", "1", "2"])
    }
}
