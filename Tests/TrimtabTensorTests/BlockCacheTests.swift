import Dispatch
import Foundation
import Synchronization
import XCTest
@testable import TrimtabTensor

/// Large ``TensorStorage`` blocks come back from ``BlockCache`` by page-rounded size,
/// zeroed, within the high-water mark of live blocks and the capacity; ``MemoryStats``
/// counts live storage only.
final class BlockCacheTests: XCTestCase {
    private static let mebibyte = 1 << 20
    private var savedCapacity = 0, savedSlack = 0

    /// The tests below count bytes against the high-water mark exactly: no slack, except
    /// where a test sets one.
    override func setUp() {
        savedCapacity = BlockCache.capacity
        savedSlack = BlockCache.slack
        BlockCache.slack = 0
        BlockCache.releaseAll()
    }

    override func tearDown() {
        BlockCache.capacity = savedCapacity
        BlockCache.slack = savedSlack
        BlockCache.releaseAll()
    }

    /// Fills `bytes` bytes of a new storage with a non-zero pattern, frees it and returns
    /// its address.
    private func freedBlock(_ bytes: Int) -> UnsafeMutableRawPointer {
        let storage = TensorStorage(byteCount: bytes)
        memset(storage.base, 0xAB, bytes)
        return storage.base
    }

    /// The offset of the first non-zero byte of the storage, nil when all are zero.
    private func firstNonZero(_ storage: TensorStorage) -> Int? {
        UnsafeRawBufferPointer(start: storage.base, count: storage.byteCount).firstIndex { $0 != 0 }
    }

    func testFreedBlockComesBackZeroedForTheSamePageRoundedSize() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let address = freedBlock(3 * Self.mebibyte + 100)
        XCTAssertEqual(BlockCache.cachedBytes, 3 * Self.mebibyte + page, "cached at its page-rounded size")
        let reused = TensorStorage(byteCount: 3 * Self.mebibyte + 200)
        XCTAssertEqual(reused.base, address)
        XCTAssertEqual(BlockCache.cachedBytes, 0)
        XCTAssertNil(firstNonZero(reused))
        XCTAssertEqual(Int(bitPattern: reused.base) % 64, 0)
    }

    func testDifferentSizesDoNotMix() {
        // 7 MiB live at once leaves room to keep the 4 MiB block next to a new 2 MiB one;
        // the 3 MiB block, freed first, is evicted for it.
        var blocks: [TensorStorage?] = [3, 4].map { TensorStorage(byteCount: $0 * Self.mebibyte) }
        let largeAddress = blocks[1]?.base
        blocks[0] = nil
        blocks[1] = nil
        let small = TensorStorage(byteCount: 2 * Self.mebibyte)
        withExtendedLifetime(small) {
            XCTAssertNotEqual(small.base, largeAddress, "a smaller request does not take a larger block")
            XCTAssertEqual(BlockCache.cachedBytes, 4 * Self.mebibyte, "the 4 MiB block still waits")
            let again = TensorStorage(byteCount: 4 * Self.mebibyte)
            XCTAssertEqual(again.base, largeAddress)
        }
    }

    /// A fresh mapping unmaps the least recently freed blocks until live and cached
    /// blocks fit within the most that was live at once (8 MiB here).
    func testFreshMappingEvictsLeastRecentlyFreedBeyondTheHighWaterMark() {
        var blocks: [TensorStorage?] = [2, 2, 4].map { TensorStorage(byteCount: $0 * Self.mebibyte) }
        let addresses = [blocks[0]?.base, blocks[1]?.base]
        for i in [2, 0, 1] { blocks[i] = nil }
        XCTAssertEqual(BlockCache.cachedBytes, 8 * Self.mebibyte)
        let fresh = TensorStorage(byteCount: 3 * Self.mebibyte)
        withExtendedLifetime(fresh) {
            XCTAssertEqual(BlockCache.cachedBytes, 4 * Self.mebibyte, "3 MiB live leaves room for 5: the 4 MiB block goes")
            let newest = TensorStorage(byteCount: 2 * Self.mebibyte)
            let oldest = TensorStorage(byteCount: 2 * Self.mebibyte)
            XCTAssertEqual([newest.base, oldest.base], addresses.reversed())
        }
    }

    /// With slack, live and cached blocks may pass the high-water mark by that much: a
    /// forward's largest block, freed at its end, stays cached through the next forward's
    /// smaller blocks (the same sequence without slack unmaps it).
    func testSlackKeepsTheLargestBlockThroughTheNextForward() {
        /// Two layers' blocks, then the large last block (the logits) while the second is
        /// live; the logits die last. Returns the cached bytes just before the large request.
        func forward() -> Int {
            var layer: [TensorStorage?] = [TensorStorage(byteCount: 2 * Self.mebibyte)]
            layer.append(TensorStorage(byteCount: 3 * Self.mebibyte))
            layer[0] = nil
            let cachedBefore = BlockCache.cachedBytes
            var logits: TensorStorage? = TensorStorage(byteCount: 16 * Self.mebibyte)
            XCTAssertNotNil(logits)
            layer[1] = nil
            logits = nil
            return cachedBefore
        }
        for (slack, kept) in [(0, false), (8 * Self.mebibyte, true)] {
            BlockCache.releaseAll()
            BlockCache.slack = slack
            _ = forward()
            let cached = forward()
            XCTAssertEqual(cached >= 16 * Self.mebibyte, kept,
                           "slack \(slack): the large block \(kept ? "waits" : "is unmapped") (\(cached) bytes cached)")
        }
    }

    /// After ``BlockCache/releaseAll()`` the high-water mark is what is live then, not
    /// the earlier peak.
    func testReleaseAllRestartsTheHighWaterMark() {
        _ = TensorStorage(byteCount: 8 * Self.mebibyte)
        BlockCache.releaseAll()
        _ = TensorStorage(byteCount: 2 * Self.mebibyte)
        XCTAssertEqual(BlockCache.cachedBytes, 2 * Self.mebibyte)
        let fresh = TensorStorage(byteCount: 4 * Self.mebibyte)
        withExtendedLifetime(fresh) {
            XCTAssertEqual(BlockCache.cachedBytes, 0, "with an 8 MiB mark the 2 MiB block would have stayed")
        }
    }

    func testSmallAllocationsAreNotCached() {
        _ = TensorStorage(byteCount: BlockCache.minimumByteCount - 64)
        XCTAssertEqual(BlockCache.cachedBytes, 0)
        _ = TensorStorage(byteCount: BlockCache.minimumByteCount)
        XCTAssertEqual(BlockCache.cachedBytes, BlockCache.minimumByteCount)
    }

    func testCachedBytesStayWithinTheCapacity() {
        BlockCache.capacity = 5 * Self.mebibyte
        var blocks: [TensorStorage?] = (0..<3).map { _ in TensorStorage(byteCount: 2 * Self.mebibyte) }
        for i in blocks.indices { blocks[i] = nil }
        XCTAssertEqual(BlockCache.cachedBytes, 4 * Self.mebibyte, "the third block does not fit and is unmapped")
        BlockCache.capacity = 3 * Self.mebibyte
        XCTAssertEqual(BlockCache.cachedBytes, 2 * Self.mebibyte, "lowering the capacity evicts")
        BlockCache.releaseAll()
        XCTAssertEqual(BlockCache.cachedBytes, 0)
    }

    func testCapacityZeroMapsAndUnmapsEveryBlock() {
        BlockCache.capacity = 0
        _ = freedBlock(2 * Self.mebibyte)
        XCTAssertEqual(BlockCache.cachedBytes, 0)
        let fresh = TensorStorage(byteCount: 2 * Self.mebibyte)
        XCTAssertNil(firstNonZero(fresh))
    }

    func testCapacityFromTheEnvironment() {
        XCTAssertEqual(BlockCache.capacity(environment: nil), BlockCache.defaultCapacity)
        XCTAssertEqual(BlockCache.capacity(environment: "0"), 0)
        XCTAssertEqual(BlockCache.capacity(environment: "256"), 256 * Self.mebibyte)
        XCTAssertEqual(BlockCache.capacity(environment: "-1"), BlockCache.defaultCapacity)
        XCTAssertEqual(BlockCache.capacity(environment: "lots"), BlockCache.defaultCapacity)
    }

    /// Live bytes are the requested sizes of living storage; cached blocks are not live.
    func testMemoryStatsCountLiveStorageNotCachedBlocks() {
        let before = MemoryStats.liveBytes
        let bytes = 2 * Self.mebibyte + 10
        for _ in 0..<2 {
            let storage = TensorStorage(byteCount: bytes)
            withExtendedLifetime(storage) {
                XCTAssertEqual(MemoryStats.liveBytes, before + bytes)
                XCTAssertGreaterThanOrEqual(MemoryStats.peakBytes, before + bytes)
                XCTAssertEqual(BlockCache.cachedBytes, 0)
            }
        }
        XCTAssertEqual(MemoryStats.liveBytes, before)
        XCTAssertGreaterThan(BlockCache.cachedBytes, 0)
    }

    /// Threads allocating and freeing the same sizes never hold the same block at once,
    /// and every block they get is zeroed.
    func testConcurrentAllocationsNeverShareABlock() {
        let held = Mutex<Set<UInt>>([])
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<100 {
                let storage = TensorStorage(byteCount: (1 + round % 2) * Self.mebibyte)
                let address = UInt(bitPattern: storage.base)
                let unique = held.withLock { $0.insert(address).inserted }
                let zeroed = UnsafeRawBufferPointer(start: storage.base, count: storage.byteCount)
                    .allSatisfy { $0 == 0 }
                if !unique || !zeroed { failures.add(1, ordering: .relaxed) }
                memset(storage.base, Int32(thread + 1), storage.byteCount)
                held.withLock { _ = $0.remove(address) }
                withExtendedLifetime(storage) {}
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
        XCTAssertLessThanOrEqual(BlockCache.cachedBytes, BlockCache.capacity)
    }
}
