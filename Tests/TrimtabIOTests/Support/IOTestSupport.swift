import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabIO

/// Test fixtures of this target (`Tests/TrimtabIOTests/Fixtures`), written by
/// `scripts/reference/gguf_quants.py` and `scripts/reference/io_safetensors.py`.
enum IOFixtures {
    /// The URL of `Fixtures/<name>`; fails the test if it is missing.
    static func url(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
        guard let url = Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "Fixtures") else {
            XCTFail("fixture Fixtures/\(name) is missing: run scripts/reference/gguf_quants.py and "
                    + "scripts/reference/io_safetensors.py", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// The bytes of `Fixtures/<name>`.
    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(name)))
    }

    /// The small GGUF file `gguf_quants.py` writes with the `gguf` package, kept as base64
    /// inside `tiny_gguf.json` (no binary model-format file is committed).
    static func tinyGGUFBytes() throws -> [UInt8] {
        struct Container: Decodable { let file: String }
        let encoded = try decode(Container.self, "tiny_gguf.json").file
        guard let data = Data(base64Encoded: encoded) else {
            XCTFail("tiny_gguf.json: 'file' is not base64")
            throw CocoaError(.fileReadCorruptFile)
        }
        return [UInt8](data)
    }

    /// The tiny GGUF written to a temporary file, for the memory-mapped reading path.
    static func tinyGGUFURL() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trimtab-io-tests-\(getpid())-tiny.gguf")
        if !FileManager.default.fileExists(atPath: url.path) {
            try Data(tinyGGUFBytes()).write(to: url, options: .atomic)
        }
        return url
    }

    /// `Fixtures/<name>` decoded as `T`.
    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(name)))
    }
}

/// Files from `scripts/fetch-assets.sh` in `$TRIMTAB_CACHE` (default `~/.cache/trimtab`).
enum AssetCache {
    static var root: URL {
        if let path = ProcessInfo.processInfo.environment["TRIMTAB_CACHE"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/trimtab")
    }

    /// The cached file at `relative`; FAILS the test (never skips) if it is missing.
    static func require(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(url.path) is missing: run scripts/fetch-assets.sh to download the test models "
                    + "(set TRIMTAB_CACHE to use another cache directory)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }
}


/// The distance in units in the last place between two finite floats of the same sign
/// (bit-pattern distance), or `Int.max` if signs differ and the values are not both zero.
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    if a == b { return 0 }
    if (a < 0) != (b < 0) { return Int.max }
    return abs(Int(a.bitPattern) - Int(b.bitPattern))
}

/// Runs `body` and returns the CheckpointError it throws, failing if it throws nothing
/// or something else.
@discardableResult
func expectCheckpointError<T>(_ label: String, file: StaticString = #filePath, line: UInt = #line,
                              _ body: () throws -> T) -> CheckpointError? {
    do {
        _ = try body()
        XCTFail("\(label): expected a CheckpointError, got success", file: file, line: line)
    } catch let error as CheckpointError {
        return error
    } catch {
        XCTFail("\(label): expected a CheckpointError, got \(error)", file: file, line: line)
    }
    return nil
}
