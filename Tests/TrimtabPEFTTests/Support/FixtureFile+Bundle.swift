import Foundation
import TrimtabTestSupport

extension FixtureFile {
    /// Loads `Fixtures/<name>.json` from this test target's bundle.
    static func load(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> FixtureFile {
        try load(name, bundle: .module, file: file, line: line)
    }
}
