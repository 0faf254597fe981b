import Foundation
import XCTest

/// Paths of the real checkpoints `scripts/fetch-assets.sh` caches outside the repository.
public enum TestAssets {
    public static var root: String {
        ProcessInfo.processInfo.environment["TRIMTAB_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory() + "/.cache/trimtab"
    }

    public static var smolLM2: String { root + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" }
    public static var miniLM: String { root + "/models/all-minilm-l6-v2" }

    /// Fails (never skips) when an asset is missing.
    public static func requireFile(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("missing \(path): run scripts/fetch-assets.sh first", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
    }
}
