/// One strided matrix product, as BLAS describes it.
///
/// `C = alpha · op(A) · op(B) + beta · C` for each of `batch` matrices, where `op(X)` is
/// `X` or its transpose. All matrices are row-major: `lda`, `ldb`, `ldc` are the distances
/// (in elements) between consecutive rows as stored; `strideA`, `strideB`, `strideC` the
/// distances between consecutive matrices of the batch (a stride of 0 broadcasts one
/// matrix across the batch). Transposes are flags, never copies.
public struct GEMMShape: Hashable, Sendable {
    public var transA: Bool
    public var transB: Bool
    /// Rows of op(A) and C.
    public var m: Int
    /// Columns of op(B) and C.
    public var n: Int
    /// Columns of op(A), rows of op(B).
    public var k: Int
    public var lda: Int
    public var ldb: Int
    public var ldc: Int
    public var batch: Int
    public var strideA: Int
    public var strideB: Int
    public var strideC: Int

    /// A single (unbatched) product with packed leading dimensions.
    public init(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil,
                batch: Int = 1, strideA: Int? = nil, strideB: Int? = nil, strideC: Int? = nil) {
        self.transA = transA
        self.transB = transB
        self.m = m
        self.n = n
        self.k = k
        self.lda = lda ?? (transA ? m : k)
        self.ldb = ldb ?? (transB ? k : n)
        self.ldc = ldc ?? n
        self.batch = batch
        self.strideA = strideA ?? (m * k)
        self.strideB = strideB ?? (k * n)
        self.strideC = strideC ?? (m * n)
    }

    /// Floating-point operations of the whole batch (2·M·N·K each).
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(batch) }
}

/// The small interface every matrix-multiply library stands behind.
///
/// oneDNN is the default (``DNNLBackend``); OpenBLAS (``OpenBLASBackend``) is the portable
/// fallback. Implementations must be callable from any thread, one call at a time per
/// caller; they may use all ``Parallel/threadCount`` cores inside a call.
public protocol GEMMBackend: AnyObject, Sendable {
    /// A short name for logs and benchmarks (`dnnl`, `openblas`).
    var name: String { get }

    /// `C = alpha · op(A) · op(B) + beta · C` over f32 matrices.
    func sgemm(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
               beta: Float, c: UnsafeMutablePointer<Float>)

    /// The same product with A and B in bf16 (raw 16-bit words) and C in f32.
    /// Backends without bf16 kernels widen the inputs and call ``sgemm``.
    func gemmBF16(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>,
                  beta: Float, c: UnsafeMutablePointer<Float>)
}
