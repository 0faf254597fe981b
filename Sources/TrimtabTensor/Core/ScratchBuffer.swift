import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Temporary buffers that kernels need for the length of one call, kept for the next.
///
/// A linear layer over bf16 weights rounds its f32 input to a bf16 copy before every
/// product (2–13 MB per call, ~400 calls a training step). As tensor memory
/// (``BlockCache``) those copies were freed and mapped again between calls — the cache
/// evicts blocks while the forward's live memory grows toward its peak — and each fresh
/// mapping page-faulted on every page; a third of a bf16 step's page faults came from it.
/// A call takes the largest idle buffer if it is large enough (else frees it and
/// allocates one of the size asked) and puts it back when done, so the memory held is at
/// most the largest request times the number of calls that ever ran at once.
public enum ScratchBuffer {
    private final class Buffer: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let byteCount: Int
        init(byteCount: Int) {
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, max(byteCount, 64)) == 0, let raw else {
                fatalError("out of memory allocating \(byteCount) bytes of scratch")
            }
            base = raw
            self.byteCount = byteCount
        }
        deinit { free(base) }
    }

    private static let idle = Mutex<[Buffer]>([])

    /// Calls `body` with `byteCount` bytes of uninitialised, 64-byte aligned memory that
    /// is valid only during the call.
    public static func with<R>(byteCount: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        let buffer = idle.withLock { buffers -> Buffer? in
            // The largest idle buffer: it fits, or none does and it makes way for a new
            // one, so idle buffers never outnumber the calls that once ran at once.
            guard let largest = buffers.indices.max(by: { buffers[$0].byteCount < buffers[$1].byteCount })
            else { return nil }
            let taken = buffers.remove(at: largest)
            return taken.byteCount >= byteCount ? taken : nil
        } ?? Buffer(byteCount: byteCount)
        defer { idle.withLock { $0.append(buffer) } }
        return try body(buffer.base)
    }
}
