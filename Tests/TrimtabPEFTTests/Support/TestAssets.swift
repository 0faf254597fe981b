import Foundation
import XCTest

/// Paths of the real checkpoints `scripts/fetch-assets.sh` caches outside the repository.
enum TestAssets {
    static var root: String {
        ProcessInfo.processInfo.environment["TRIMTAB_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory() + "/.cache/trimtab"
    }

    static var smolLM2: String { root + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" }

    /// Fails (never skips) when an asset is missing.
    static func requireFile(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("missing \(path): run scripts/fetch-assets.sh first", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
    }

    /// `Fixtures/<path>` in the test bundle.
    static func fixture(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard let base = Bundle.module.resourceURL?.appendingPathComponent("Fixtures").appendingPathComponent(path),
              FileManager.default.fileExists(atPath: base.path) else {
            XCTFail("fixture Fixtures/\(path) is missing: run scripts/reference/peft_prompt.py", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return base
    }
}
