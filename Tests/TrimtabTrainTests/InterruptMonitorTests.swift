import Foundation
import XCTest
@testable import TrimtabTrain

final class InterruptMonitorTests: XCTestCase {
    /// A real SIGINT reaches the callback (and does not kill the process) while the monitor lives.
    func testSIGINTCallsBack() {
        let called = expectation(description: "interrupt")
        let monitor = InterruptMonitor { called.fulfill() }
        raise(SIGINT)
        wait(for: [called], timeout: 10)
        withExtendedLifetime(monitor) {}
    }
}
