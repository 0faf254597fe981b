#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of memory that one or more ``Tensor`` views share.
///
/// Owned storage is 64-byte aligned (one cache line, one AVX-512 vector) and zeroed
/// (unless a kernel that overwrites every element asks otherwise).
/// Blocks of 128 KiB and more come from ``BlockCache`` (page-aligned mappings reused by
/// size), smaller ones from malloc. Borrowed storage (for example a memory-mapped
/// checkpoint) keeps its owner alive and is never freed by the tensor.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the block.
    public let base: UnsafeMutableRawPointer
    /// Size of the block in bytes.
    public let byteCount: Int
    private let owner: AnyObject?
    private let owned: Bool

    /// Whether this storage allocated its memory (rather than borrowing, e.g., a read-only
    /// file mapping).
    public var isOwned: Bool { owned }

    /// Tests set this to fill storage allocated with `zeroed: false` with NaNs (all bits
    /// set), so an op that reads an output element before writing it shows.
    nonisolated(unsafe) static var poisonsUninitialized = false

    /// Allocates `byteCount` bytes, zeroed unless `zeroed` is false (for outputs a kernel
    /// overwrites in full: a reused block then keeps its old contents).
    public init(byteCount: Int, zeroed: Bool = true) {
        precondition(byteCount >= 0, "negative allocation")
        if BlockCache.serves(byteCount) {
            self.base = BlockCache.allocate(byteCount, zeroed: zeroed)
        } else {
            var raw: UnsafeMutableRawPointer?
            let size = max(byteCount, 64)
            let status = posix_memalign(&raw, 64, size)
            guard status == 0, let raw else { fatalError("out of memory allocating \(byteCount) bytes") }
            if zeroed { memset(raw, 0, size) }
            self.base = raw
        }
        if !zeroed && Self.poisonsUninitialized { memset(base, 0xFF, byteCount) }
        self.byteCount = byteCount
        self.owner = nil
        self.owned = true
        MemoryStats.allocated(byteCount)
    }

    /// Wraps memory that `owner` keeps alive (for example a memory-mapped file).
    public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        self.owned = false
    }

    deinit {
        if owned {
            if BlockCache.serves(byteCount) {
                BlockCache.deallocate(base, byteCount: byteCount)
            } else {
                free(base)
            }
            MemoryStats.freed(byteCount)
        }
    }
}
