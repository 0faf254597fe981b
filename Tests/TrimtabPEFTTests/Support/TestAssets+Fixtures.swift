import Foundation
import XCTest

import TrimtabTestSupport

extension TestAssets {
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
