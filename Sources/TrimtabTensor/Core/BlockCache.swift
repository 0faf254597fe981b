import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory behind large ``TensorStorage`` blocks: whole-page anonymous mappings, and a
/// process-wide cache of freed ones reused by exact size.
///
/// A training step allocates and frees the same large tensors (1–100 MB) every step.
/// Through malloc, glibc's dynamic mmap threshold soon puts them in the heap, which
/// fragments and keeps freed memory resident (about 450 MB of the prompt-tuning step's
/// peak); as a fresh mapping every time, every block page-faults again on every step.
/// So a block of at least ``minimumByteCount`` bytes is mapped directly, and when its
/// storage dies it waits on a free list keyed by its page-rounded size until the next
/// allocation of that size takes it back, zeroed again since storage promises zeroed
/// memory (a fresh mapping already is).
///
/// Two bounds keep cached blocks from costing memory:
/// - Before a fresh mapping, the least recently freed blocks are unmapped until live and
///   cached blocks together stay within the most that was ever live at once plus
///   ``slack``, so caching raises the peak by at most that. Without the rule,
///   training on batches padded to their longest row (sizes change from batch to batch)
///   filled the cache with sizes that never came back:
///   the quickstart's prompt-tuning run peaked at 1.9 GB, against 1.3 GB with malloc and
///   0.9 GB with this rule (docs/PERFORMANCE.md).
/// - At most ``capacity`` bytes wait; a block freed beyond that is unmapped, and capacity
///   0 turns the cache off (plain `mmap` / `munmap`). `TRIMTAB_BLOCK_CACHE_MB` sets it at
///   start (default 1024).
///
/// Cached blocks stay resident until then: call ``releaseAll()`` when the work changes
/// (`ModelLoader.load` does after loading) or is done.
public enum BlockCache {
    /// Allocations from this size up are mapped and cached; smaller ones use malloc. It
    /// is glibc's initial mmap threshold: glibc then never maps a block itself, so it
    /// never raises that threshold and moves such blocks into the heap. (With 1 MiB, the
    /// blocks in between still took 55–60 MiB more of the prompt-tuning step's peak.)
    static let minimumByteCount = 128 << 10

    /// The default of ``slack``.
    ///
    /// With no slack, a forward whose largest block is its last (a prefill's `[B·T, vocab]`
    /// logits, 201 MB for SmolLM2 at B·T = 1024) could not keep that block cached through
    /// the next forward: the next forward's own blocks (~25 MB a layer) plus the cached
    /// logits passed the peak, so the logits were unmapped and mapped afresh every time —
    /// ~270 MB of fresh pages a forward, 11% of a bf16 prefill's samples zeroing pages.
    /// 64 MiB keeps them (48 did not): bf16 prefill +10%, for +33–41 MiB of peak RSS.
    static let defaultSlack = 64 << 20

    /// The capacity when `TRIMTAB_BLOCK_CACHE_MB` is unset or not a number ≥ 0.
    static let defaultCapacity = 1 << 30

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    private static let hugePageSize = 2 << 20

    /// A block's address and page-rounded size.
    private typealias Mapping = (address: UInt, size: Int)

    private struct Block {
        var address: UInt
        /// When it was freed, for evicting the least recently freed first.
        var freedAt: Int
    }

    private struct State {
        /// Cached blocks by page-rounded size, least recently freed first; no list is empty.
        var free: [Int: [Block]] = [:]
        var cachedBytes = 0
        var capacity: Int
        var slack = BlockCache.defaultSlack
        /// Bytes of mapped blocks in use, and the most that have been at once since start
        /// or the last ``releaseAll()``.
        var liveBytes = 0
        var peakLiveBytes = 0
        /// Counts frees, to stamp cached blocks.
        var clock = 0

        /// The most recently freed cached block of `size` bytes.
        mutating func takeNewest(_ size: Int) -> UInt? {
            guard let block = free[size]?.popLast() else { return nil }
            if free[size]?.isEmpty == true { free[size] = nil }
            cachedBytes -= size
            return block.address
        }

        /// The least recently freed cached block of any size (a scan over the sizes).
        mutating func takeOldest() -> Mapping? {
            guard let size = free.min(by: { $0.value[0].freedAt < $1.value[0].freedAt })?.key,
                  let block = free[size]?.removeFirst()
            else { return nil }
            if free[size]?.isEmpty == true { free[size] = nil }
            cachedBytes -= size
            return (block.address, size)
        }

        /// Takes the least recently freed blocks until at most `bytes` remain cached.
        mutating func evict(downTo bytes: Int) -> [Mapping] {
            var evicted: [Mapping] = []
            while cachedBytes > bytes, let block = takeOldest() { evicted.append(block) }
            return evicted
        }

        mutating func put(_ address: UInt, _ size: Int) {
            free[size, default: []].append(Block(address: address, freedAt: clock))
            clock += 1
            cachedBytes += size
        }
    }

    private static let state = Mutex(State(
        capacity: capacity(environment: ProcessInfo.processInfo.environment["TRIMTAB_BLOCK_CACHE_MB"])))

    /// Bytes of freed blocks waiting for reuse (not counted by ``MemoryStats``).
    public static var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    /// The most bytes the cache keeps; lowering it unmaps blocks until the cache fits.
    public static var capacity: Int {
        get { state.withLock { $0.capacity } }
        set {
            precondition(newValue >= 0, "negative block cache capacity")
            unmap(state.withLock { state in
                state.capacity = newValue
                return state.evict(downTo: newValue)
            })
        }
    }

    /// How far live and cached blocks together may pass the most ever live at once
    /// (``defaultSlack`` unless set; applies from the next fresh mapping).
    public static var slack: Int {
        get { state.withLock { $0.slack } }
        set {
            precondition(newValue >= 0, "negative block cache slack")
            state.withLock { $0.slack = newValue }
        }
    }

    /// Unmaps every cached block and restarts the high-water mark of live blocks from
    /// what is live now.
    public static func releaseAll() {
        unmap(state.withLock { state in
            state.peakLiveBytes = state.liveBytes
            return state.evict(downTo: 0)
        })
    }

    /// Whether storage of `byteCount` bytes comes from here rather than from malloc.
    static func serves(_ byteCount: Int) -> Bool { byteCount >= minimumByteCount }

    /// `byteCount` page-aligned bytes, zeroed unless `zeroed` is false: a cached block of
    /// the same page-rounded size if there is one, else a fresh mapping (after evicting
    /// what no longer fits under the high-water mark).
    static func allocate(_ byteCount: Int, zeroed: Bool = true) -> UnsafeMutableRawPointer {
        let size = pageRounded(byteCount)
        let (cached, evicted) = state.withLock { state -> (UInt?, [Mapping]) in
            defer {
                state.liveBytes += size
                state.peakLiveBytes = max(state.peakLiveBytes, state.liveBytes)
            }
            if let address = state.takeNewest(size) { return (address, []) }
            let room = max(state.peakLiveBytes + state.slack - state.liveBytes - size, 0)
            return (nil, state.evict(downTo: room))
        }
        unmap(evicted)
        if let cached, let block = UnsafeMutableRawPointer(bitPattern: cached) {
            if zeroed { memset(block, 0, byteCount) }
            return block
        }
        guard let block = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              block != MAP_FAILED
        else { fatalError("out of memory mapping \(byteCount) bytes") }
        // Transparent huge pages where the system offers them on request: a 2 MiB page
        // faults once where 512 small ones fault one by one (and the products miss the
        // TLB less). Advice only; it fails harmlessly where THP is off.
        if size >= hugePageSize { _ = madvise(block, size, MADV_HUGEPAGE) }
        return block
    }

    /// Takes back a block from ``allocate(_:)``: cached if it fits under the capacity,
    /// else unmapped.
    static func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        let size = pageRounded(byteCount)
        let address = UInt(bitPattern: block)
        let cached = state.withLock { state in
            state.liveBytes -= size
            guard state.cachedBytes + size <= state.capacity else { return false }
            state.put(address, size)
            return true
        }
        if !cached { unmap([(address, size)]) }
    }

    /// The capacity `TRIMTAB_BLOCK_CACHE_MB` asks for, in bytes.
    static func capacity(environment value: String?) -> Int {
        guard let value, let megabytes = Int(value), megabytes >= 0 else { return defaultCapacity }
        return megabytes << 20
    }

    private static func pageRounded(_ byteCount: Int) -> Int {
        (byteCount + pageSize - 1) / pageSize * pageSize
    }

    private static func unmap(_ blocks: [Mapping]) {
        for block in blocks { munmap(UnsafeMutableRawPointer(bitPattern: block.address), block.size) }
    }
}
