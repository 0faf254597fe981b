import COpenBLAS

/// Matrix products through OpenBLAS's `cblas_sgemm` (the portable fallback).
///
/// OpenBLAS has no bf16 GEMM in Debian's build, so ``gemmBF16`` widens the inputs.
public final class OpenBLASBackend: GEMMBackend, @unchecked Sendable {
    public let name = "openblas"

    public init() {
        openblas_set_num_threads(Int32(Parallel.threadCount))
    }

    public func sgemm(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                      beta: Float, c: UnsafeMutablePointer<Float>) {
        if shape.k == 0 {
            scaleC(shape, beta: beta, c: c)
            return
        }
        for index in 0..<shape.batch {
            cblas_sgemm(CblasRowMajor,
                        shape.transA ? CblasTrans : CblasNoTrans,
                        shape.transB ? CblasTrans : CblasNoTrans,
                        Int32(shape.m), Int32(shape.n), Int32(shape.k), alpha,
                        a + index * shape.strideA, Int32(shape.lda),
                        b + index * shape.strideB, Int32(shape.ldb), beta,
                        c + index * shape.strideC, Int32(shape.ldc))
        }
    }

    public func gemmBF16(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>,
                         beta: Float, c: UnsafeMutablePointer<Float>) {
        widenedGEMM(self, shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
    }
}

/// `C = beta · C` for a product with an empty inner dimension.
func scaleC(_ shape: GEMMShape, beta: Float, c: UnsafeMutablePointer<Float>) {
    for index in 0..<shape.batch {
        for row in 0..<shape.m {
            let base = c + index * shape.strideC + row * shape.ldc
            for col in 0..<shape.n { base[col] = beta == 0 ? 0 : base[col] * beta }
        }
    }
}

/// Widens the bf16 operands of `shape` to packed f32 copies and runs `backend.sgemm`.
func widenedGEMM(_ backend: GEMMBackend, _ shape: GEMMShape, alpha: Float, a: UnsafePointer<UInt16>,
                 b: UnsafePointer<UInt16>, beta: Float, c: UnsafeMutablePointer<Float>) {
    func span(rows: Int, cols: Int, ld: Int, stride: Int) -> Int {
        let one = rows == 0 ? 0 : (rows - 1) * ld + cols
        return shape.batch <= 1 ? one : (shape.batch - 1) * stride + one
    }
    let aRows = shape.transA ? shape.k : shape.m, aCols = shape.transA ? shape.m : shape.k
    let bRows = shape.transB ? shape.n : shape.k, bCols = shape.transB ? shape.k : shape.n
    let aCount = span(rows: aRows, cols: aCols, ld: shape.lda, stride: shape.strideA)
    let bCount = span(rows: bRows, cols: bCols, ld: shape.ldb, stride: shape.strideB)
    let wideA = UnsafeMutablePointer<Float>.allocate(capacity: max(aCount, 1))
    let wideB = UnsafeMutablePointer<Float>.allocate(capacity: max(bCount, 1))
    defer { wideA.deallocate(); wideB.deallocate() }
    convertFromBF16(a, wideA, count: aCount)
    convertFromBF16(b, wideB, count: bCount)
    backend.sgemm(shape, alpha: alpha, a: wideA, b: wideB, beta: beta, c: c)
}
