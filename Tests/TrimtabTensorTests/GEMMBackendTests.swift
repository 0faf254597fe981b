import XCTest
@testable import TrimtabTensor

/// Both backends against a naive triple loop in Double, over every transpose
/// combination, padded leading dimensions, batches, broadcast and alpha/beta.
final class GEMMBackendTests: XCTestCase {
    private func naive(_ s: GEMMShape, alpha: Float, a: [Float], b: [Float], beta: Float, c: [Float]) -> [Float] {
        var out = c
        for p in 0..<s.batch {
            for i in 0..<s.m {
                for j in 0..<s.n {
                    var sum = 0.0
                    for l in 0..<s.k {
                        let av = s.transA ? a[p * s.strideA + l * s.lda + i] : a[p * s.strideA + i * s.lda + l]
                        let bv = s.transB ? b[p * s.strideB + j * s.ldb + l] : b[p * s.strideB + l * s.ldb + j]
                        sum += Double(av) * Double(bv)
                    }
                    let idx = p * s.strideC + i * s.ldc + j
                    out[idx] = Float(Double(alpha) * sum + Double(beta) * Double(c[idx]))
                }
            }
        }
        return out
    }

    private func check(_ backend: GEMMBackend, _ s: GEMMShape, alpha: Float, beta: Float, bf16: Bool = false,
                       file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix64(seed: 7)
        let aRows = s.transA ? s.k : s.m
        let bRows = s.transB ? s.n : s.k
        let aCount = max(1, (s.batch - 1) * s.strideA + aRows * s.lda)
        let bCount = max(1, (s.batch - 1) * s.strideB + bRows * s.ldb)
        let cCount = (s.batch - 1) * s.strideC + s.m * s.ldc
        var a = (0..<aCount).map { _ in rng.nextFloat() * 2 - 1 }
        var b = (0..<bCount).map { _ in rng.nextFloat() * 2 - 1 }
        if bf16 {
            a = a.map { floatFromBF16(bf16Bits($0)) }
            b = b.map { floatFromBF16(bf16Bits($0)) }
        }
        let c0 = (0..<cCount).map { _ in rng.nextFloat() }
        let expected = naive(s, alpha: alpha, a: a, b: b, beta: beta, c: c0)
        var c = c0
        if bf16 {
            let ah = a.map(bf16Bits), bh = b.map(bf16Bits)
            backend.gemmBF16(s, alpha: alpha, a: ah, b: bh, beta: beta, c: &c)
        } else {
            backend.sgemm(s, alpha: alpha, a: a, b: b, beta: beta, c: &c)
        }
        let worst = zip(c, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4, "\(backend.name) \(s) alpha \(alpha) beta \(beta): max |diff| \(worst)",
                          file: file, line: line)
    }

    func testAllTransposesAndPaddingAgreeWithNaive() {
        for backend in [GEMM.makeBackend(named: "dnnl"), GEMM.makeBackend(named: "openblas")] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let m = 5, n = 7, k = 3
                    check(backend, GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k), alpha: 1, beta: 0)
                    let padded = GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k,
                                           lda: (transA ? m : k) + 2, ldb: (transB ? k : n) + 3, ldc: n + 1)
                    check(backend, padded, alpha: 0.5, beta: 1)
                    check(backend, GEMMShape(transA: transA, transB: transB, m: 1, n: 1, k: 1), alpha: 2, beta: 0.25)
                }
            }
        }
    }

    func testBatchedAndBroadcast() {
        for backend in [GEMM.makeBackend(named: "dnnl"), GEMM.makeBackend(named: "openblas")] {
            check(backend, GEMMShape(m: 4, n: 6, k: 5, batch: 3), alpha: 1, beta: 0)
            check(backend, GEMMShape(transB: true, m: 4, n: 6, k: 5, batch: 3, strideB: 0), alpha: 1, beta: 1)
            check(backend, GEMMShape(transA: true, m: 4, n: 6, k: 5, batch: 2), alpha: 1, beta: 0)
        }
    }

    func testBF16InputsWidenExactly() {
        for backend in [GEMM.makeBackend(named: "dnnl"), GEMM.makeBackend(named: "openblas")] {
            check(backend, GEMMShape(transB: true, m: 8, n: 16, k: 32), alpha: 1, beta: 0, bf16: true)
            check(backend, GEMMShape(transA: true, m: 8, n: 16, k: 32), alpha: 1, beta: 1, bf16: true)
        }
    }

    func testEmptyInnerDimensionScalesC() {
        for backend in [GEMM.makeBackend(named: "dnnl"), GEMM.makeBackend(named: "openblas")] {
            check(backend, GEMMShape(m: 2, n: 3, k: 0), alpha: 1, beta: 0)
            check(backend, GEMMShape(m: 2, n: 3, k: 0), alpha: 1, beta: 1)
        }
    }
}
