import Synchronization
import XCTest
@testable import TrimtabTensor

/// The row-parallel loops: every index or row runs exactly once, whichever thread takes
/// its chunk (the pool hands chunks out as threads free up).
final class ParallelTests: XCTestCase {
    /// Counts how often each of `count` indices ran.
    private final class Visits: Sendable {
        let counts: Mutex<[Int]>
        init(_ count: Int) { counts = Mutex([Int](repeating: 0, count: count)) }
        func visit(_ i: Int) { counts.withLock { $0[i] += 1 } }
        var all: [Int] { counts.withLock { $0 } }
    }

    func testChunksCoverEveryIndexOnce() {
        for count in [0, 1, 2, 3, 7, 64] {
            let visits = Visits(count)
            Parallel.forChunks(count) { range in
                for i in range { visits.visit(i) }
            }
            XCTAssertEqual(visits.all, [Int](repeating: 1, count: count), "forChunks(\(count))")
        }
    }

    func testRowChunksCoverEveryRowOnce() {
        for rows in [0, 1, 5, 1000] {
            let visits = Visits(rows)
            // A cost per row low enough that 1000 rows split across threads.
            Parallel.forRowChunks(rows, costPerRow: 64) { range in
                for row in range { visits.visit(row) }
            }
            XCTAssertEqual(visits.all, [Int](repeating: 1, count: rows), "forRowChunks(\(rows))")
            let single = Visits(rows)
            Parallel.forRows(rows, costPerRow: 64) { single.visit($0) }
            XCTAssertEqual(single.all, [Int](repeating: 1, count: rows), "forRows(\(rows))")
        }
    }
}
