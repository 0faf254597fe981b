import Foundation
import Synchronization

/// The process-wide GEMM entry point: picks the backend and counts what runs.
///
/// Every matrix product in Trimtab goes through ``GEMM/sgemm(_:alpha:a:b:beta:c:)`` or
/// ``GEMM/gemmBF16(_:alpha:a:b:beta:c:)``, so ``GEMM/callCount`` and ``GEMM/flopCount``
/// tell exactly how many products a forward or backward pass ran (the test that frozen
/// weights never get a dW product reads them).
public enum GEMM {
    private static let calls = Atomic<Int>(0)
    private static let flopsDone = Atomic<Int>(0)
    private static let timeSpent = Atomic<UInt64>(0)
    private static let lock = Mutex<GEMMBackend?>(nil)

    /// The backend in use: `TRIMTAB_BACKEND=openblas` selects OpenBLAS, anything else
    /// (or nothing) selects oneDNN.
    public static var backend: GEMMBackend {
        get {
            lock.withLock { current in
                if let current { return current }
                let chosen = makeBackend(named: ProcessInfo.processInfo.environment["TRIMTAB_BACKEND"] ?? "dnnl")
                current = chosen
                return chosen
            }
        }
        set { lock.withLock { $0 = newValue } }
    }

    /// A backend by name (`dnnl` or `openblas`).
    public static func makeBackend(named name: String) -> GEMMBackend {
        switch name.lowercased() {
        case "openblas", "blas": return OpenBLASBackend()
        default: return DNNLBackend()
        }
    }

    /// Number of GEMM calls since start or the last ``resetCounters()``.
    public static var callCount: Int { calls.load(ordering: .relaxed) }
    /// Floating-point operations issued to the backend since the last reset.
    public static var flopCount: Int { flopsDone.load(ordering: .relaxed) }

    /// Wall time spent inside products since start (it only grows; take differences).
    public static var nanoseconds: UInt64 { timeSpent.load(ordering: .relaxed) }

    /// Zeroes ``callCount`` and ``flopCount``.
    public static func resetCounters() {
        calls.store(0, ordering: .relaxed)
        flopsDone.store(0, ordering: .relaxed)
    }

    /// `C = alpha · op(A) · op(B) + beta · C` in f32 on the current backend.
    @inline(__always)
    public static func sgemm(_ shape: GEMMShape, alpha: Float = 1, a: UnsafePointer<Float>,
                             b: UnsafePointer<Float>, beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        if shape.m == 0 || shape.n == 0 || shape.batch == 0 { return }
        let start = DispatchTime.now().uptimeNanoseconds
        backend.sgemm(shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
        record(shape, since: start)
    }

    /// The same product with bf16 inputs and an f32 result.
    @inline(__always)
    public static func gemmBF16(_ shape: GEMMShape, alpha: Float = 1, a: UnsafePointer<UInt16>,
                                b: UnsafePointer<UInt16>, beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        if shape.m == 0 || shape.n == 0 || shape.batch == 0 { return }
        let start = DispatchTime.now().uptimeNanoseconds
        backend.gemmBF16(shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
        record(shape, since: start)
    }

    @inline(__always)
    private static func record(_ shape: GEMMShape, since start: UInt64) {
        calls.add(1, ordering: .relaxed)
        flopsDone.add(Int(shape.flops), ordering: .relaxed)
        timeSpent.add(DispatchTime.now().uptimeNanoseconds &- start, ordering: .relaxed)
    }
}
