import XCTest
@testable import TrimtabTrain

final class ProcessMemoryTests: XCTestCase {
    /// The kernel writes `VmHWM:\t    1976 kB`: a tab, then padding spaces.
    func testParsesTabSeparatedStatusLines() {
        let status = "Name:\ttrimtab\nVmPeak:\t  123456 kB\nVmHWM:\t    1976 kB\nVmRSS:\t     812 kB\nThreads:\t2\n"
        XCTAssertEqual(ProcessMemory.field("VmHWM:", in: status), 1976 * 1024)
        XCTAssertEqual(ProcessMemory.field("VmRSS:", in: status), 812 * 1024)
        XCTAssertEqual(ProcessMemory.field("Threads:", in: status), 2)
        XCTAssertNil(ProcessMemory.field("VmSwap:", in: status))
    }

    /// This process has a resident set, so the live reading is a positive byte count.
    func testReadsThisProcess() throws {
        // Current first: the peak read afterwards can only be as large or larger.
        let current = try XCTUnwrap(ProcessMemory.residentBytes, "VmRSS missing from /proc/self/status")
        let peak = try XCTUnwrap(ProcessMemory.peakResidentBytes, "VmHWM missing from /proc/self/status")
        XCTAssertGreaterThan(current, 1 << 20)
        XCTAssertGreaterThanOrEqual(peak, current)
    }
}
