import Dispatch
import Foundation

/// Row-parallel loops over the machine's cores.
///
/// Threading policy: at any moment either one GEMM runs (oneDNN or OpenBLAS, on their own
/// threads) or one of our kernels runs (on Dispatch's workers); they never overlap, so
/// each gets every core in turn and nothing oversubscribes. Both sides use the same
/// thread count, ``threadCount``, which defaults to the number of active processors and
/// can be set with `TRIMTAB_THREADS`.
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
            DispatchQueue.concurrentPerform(iterations: chunks) { index in
                let lower = count * index / chunks
                let upper = count * (index + 1) / chunks
                body(lower..<upper)
            }
        }
    }

    /// Calls `body(row)` for each row in `0..<rows`, rows split across threads.
    /// `costPerRow` (in elements touched) decides whether threading pays.
    @inline(__always)
    public static func forRows(_ rows: Int, costPerRow: Int = 1024, _ body: (Int) -> Void) {
        let grain = max(1, 16_384 / max(costPerRow, 1))
        forChunks(rows, grain: grain) { range in
            for row in range { body(row) }
        }
    }
}
