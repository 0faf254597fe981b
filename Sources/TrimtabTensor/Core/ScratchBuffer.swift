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
/// Buffers here are never returned to the system: a call takes one at least as large as
/// it needs (or replaces the largest idle one with a new one) and puts it back when done,
/// so the memory held is at most the largest request times the number of calls that ever
/// ran at once.
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
            // The smallest idle buffer that fits; when none does, the largest is dropped
            // for a new one, so idle buffers never outnumber the calls once concurrent.
            if let index = buffers.indices.filter({ buffers[$0].byteCount >= byteCount })
                .min(by: { buffers[$0].byteCount < buffers[$1].byteCount }) {
                return buffers.remove(at: index)
            }
            if let largest = buffers.indices.max(by: { buffers[$0].byteCount < buffers[$1].byteCount }) {
                buffers.remove(at: largest)
            }
            return nil
        } ?? Buffer(byteCount: byteCount)
        defer { idle.withLock { $0.append(buffer) } }
        return try body(buffer.base)
    }

    /// Bytes held by idle buffers (for tests and memory reports).
    public static var idleByteCount: Int { idle.withLock { $0.reduce(0) { $0 + $1.byteCount } } }
}
