import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Row-parallel loops over the machine's cores.
///
/// Threading policy: oneDNN (Debian's build uses OpenMP) and our kernels share ONE pool of
/// threads — libgomp's, which oneDNN has already loaded — so at any moment either a GEMM
/// or one of our kernels runs, each on all ``threadCount`` threads, and no second pool
/// ever competes for the cores. (A separate Dispatch pool next to OpenMP's spinning
/// workers made prefill 10× slower on 2 cores.) Where libgomp is absent, kernels fall
/// back to Dispatch. The thread count defaults to the number of active processors and
/// can be set with `TRIMTAB_THREADS` (OpenBLAS, the fallback GEMM, is set to the same).
public enum Parallel {
    /// How many threads kernels (and the GEMM backend) use.
    public static let threadCount: Int = {
        if let text = ProcessInfo.processInfo.environment["TRIMTAB_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body` on disjoint chunks that cover `0..<count`, in parallel when the work
    /// is large enough. `grain` is the smallest chunk worth a thread.
    @inline(__always)
    public static func forChunks(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let chunks = min(threadCount, max(1, count / max(grain, 1)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let run: (Int) -> Void = { index in
                body(count * index / chunks ..< count * (index + 1) / chunks)
            }
            if let pool = OpenMPPool.shared {
                pool.run(chunks, run)
            } else {
                DispatchQueue.concurrentPerform(iterations: chunks, execute: run)
            }
        }
    }

    /// Calls `body(row)` for each row in `0..<rows`, rows split across threads.
    /// `costPerRow` (in elements touched) decides whether threading pays.
    @inline(__always)
    public static func forRows(_ rows: Int, costPerRow: Int = 1024, _ body: (Int) -> Void) {
        forRowChunks(rows, costPerRow: costPerRow) { range in
            for row in range { body(row) }
        }
    }

    /// ``forRows(_:costPerRow:_:)`` handing each thread its range of rows at once (for
    /// kernels that loop over rows themselves).
    @inline(__always)
    public static func forRowChunks(_ rows: Int, costPerRow: Int = 1024, _ body: (Range<Int>) -> Void) {
        forChunks(rows, grain: max(1, 16_384 / max(costPerRow, 1)), body)
    }

    /// Whether kernels run on libgomp's pool (shared with oneDNN) or on Dispatch.
    public static var runtimeName: String { OpenMPPool.shared == nil ? "dispatch" : "openmp (libgomp)" }
}

/// libgomp's thread pool, reached through its stable ABI entry `GOMP_parallel` (found with
/// `dlsym` in the already loaded library, so nothing extra is linked).
final class OpenMPPool: @unchecked Sendable {
    typealias Outlined = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias GOMPParallel = @convention(c) (Outlined, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void

    private let parallel: GOMPParallel

    /// The pool, or nil when libgomp is not loaded (or `TRIMTAB_PARALLEL=dispatch`).
    static let shared: OpenMPPool? = {
        if ProcessInfo.processInfo.environment["TRIMTAB_PARALLEL"] == "dispatch" { return nil }
        // Make sure oneDNN (and with it libgomp) is loaded before looking.
        _ = GEMM.backend
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, "GOMP_parallel") else { return nil }
        return OpenMPPool(parallel: unsafeBitCast(p, to: GOMPParallel.self))
    }()

    private init(parallel: GOMPParallel) {
        self.parallel = parallel
    }

    private final class Job {
        let chunks: Int
        let body: (Int) -> Void
        /// The next chunk nobody has taken.
        let next = Atomic<Int>(0)
        init(chunks: Int, body: @escaping (Int) -> Void) {
            self.chunks = chunks
            self.body = body
        }
    }

    /// Runs `body(i)` for `i` in `0..<chunks` on the pool's threads and returns when all
    /// are done. Each thread takes the next untaken chunk until none is left, so a
    /// thread that falls behind (a busy or slower core) takes fewer.
    func run(_ chunks: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let job = Job(chunks: chunks, body: body)
            withExtendedLifetime(job) {
                parallel({ raw in
                    let job = Unmanaged<Job>.fromOpaque(raw!).takeUnretainedValue()
                    while true {
                        let i = job.next.add(1, ordering: .relaxed).oldValue
                        if i >= job.chunks { break }
                        job.body(i)
                    }
                }, Unmanaged.passUnretained(job).toOpaque(), UInt32(min(chunks, Parallel.threadCount)), 0)
            }
        }
    }
}
