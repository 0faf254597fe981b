import Foundation

/// SIMD loops over one head's `D` dimensions (any `D`) and over rows of scores.
///
/// Several independent accumulators per loop so additions are not latency-bound, and
/// operands reused from registers across 4 key rows at a time. Products accumulate with
/// `addProduct`, a fused multiply-add on targets that have one (the package builds for
/// x86-64 with AVX2 and FMA; see Package.swift).
enum HeadVector {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// `a · b` over `n` elements.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            acc.addProduct(load16(a + i), load16(b + i))
            i += 16
        }
        let v8 = acc.lowHalf + acc.highHalf
        let v4 = v8.lowHalf + v8.highHalf
        var total = (v4.lowHalf + v4.highHalf).sum()
        while i < n {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// `[x·r₀, x·r₁, x·r₂, x·r₃]` over `n` elements: `x` is loaded once for four rows.
    @inline(__always)
    static func dot4(_ x: UnsafePointer<Float>, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>,
                     _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let xv = load8(x + i)
            a0.addProduct(xv, load8(r0 + i))
            a1.addProduct(xv, load8(r1 + i))
            a2.addProduct(xv, load8(r2 + i))
            a3.addProduct(xv, load8(r3 + i))
            i += 8
        }
        // Transpose-and-add the four accumulators into one vector of four sums.
        let b0 = a0.lowHalf + a0.highHalf, b1 = a1.lowHalf + a1.highHalf
        let b2 = a2.lowHalf + a2.highHalf, b3 = a3.lowHalf + a3.highHalf
        let c01 = SIMD4(lowHalf: b0.evenHalf + b0.oddHalf, highHalf: b1.evenHalf + b1.oddHalf)
        let c23 = SIMD4(lowHalf: b2.evenHalf + b2.oddHalf, highHalf: b3.evenHalf + b3.oddHalf)
        var sums = SIMD4(lowHalf: c01.evenHalf + c01.oddHalf, highHalf: c23.evenHalf + c23.oddHalf)
        while i < n {
            sums += x[i] * SIMD4(r0[i], r1[i], r2[i], r3[i])
            i += 1
        }
        return sums
    }

    /// `out[i] = scale · x·rows[i]` for `i in 0..<count`, each row `n` long.
    @inline(__always)
    static func rowDots(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                        _ rows: UnsafePointer<UnsafePointer<Float>>, count: Int, n: Int, scale: Float) {
        var i = 0
        while i + 4 <= count {
            let sums = scale * dot4(x, rows[i], rows[i + 1], rows[i + 2], rows[i + 3], n)
            out[i] = sums[0]
            out[i + 1] = sums[1]
            out[i + 2] = sums[2]
            out[i + 3] = sums[3]
            i += 4
        }
        while i < count {
            out[i] = scale * dot(x, rows[i], n)
            i += 1
        }
    }

    /// `out (=|+=) scale · Σᵢ weights[i] · rows[i]` over `count` rows of `n` elements, the
    /// output held in registers 32 dimensions at a time.
    @inline(__always)
    static func weightedSum(_ out: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>,
                            _ rows: UnsafePointer<UnsafePointer<Float>>, count: Int, n: Int, scale: Float,
                            accumulate: Bool) {
        var c = 0
        while c + 32 <= n {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
            for i in 0..<count {
                let w = SIMD16(repeating: weights[i]), r = rows[i] + c
                a0.addProduct(w, load16(r))
                a1.addProduct(w, load16(r + 16))
            }
            if accumulate {
                store16(load16(out + c) + scale * a0, out + c)
                store16(load16(out + c + 16) + scale * a1, out + c + 16)
            } else {
                store16(scale * a0, out + c)
                store16(scale * a1, out + c + 16)
            }
            c += 32
        }
        while c + 8 <= n {
            var a0 = SIMD8<Float>()
            for i in 0..<count { a0 += weights[i] * load8(rows[i] + c) }
            store8(accumulate ? load8(out + c) + scale * a0 : scale * a0, out + c)
            c += 8
        }
        while c < n {
            var a: Float = 0
            for i in 0..<count { a += weights[i] * rows[i][c] }
            out[c] = accumulate ? out[c] + scale * a : scale * a
            c += 1
        }
    }

    /// `out += Σₖ weights[k · weightStride] · rows[k · rowStride ..< k · rowStride + n]`
    /// for `k in 0..<count`: a weighted sum down a column of a weight matrix, over rows
    /// evenly spaced in memory.
    @inline(__always)
    static func accumulateStrided(_ out: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>,
                                  weightStride: Int, _ rows: UnsafePointer<Float>, rowStride: Int,
                                  count: Int, n: Int) {
        var c = 0
        while c + 32 <= n {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
            for k in 0..<count {
                let w = SIMD16(repeating: weights[k * weightStride]), r = rows + k * rowStride + c
                a0.addProduct(w, load16(r))
                a1.addProduct(w, load16(r + 16))
            }
            store16(load16(out + c) + a0, out + c)
            store16(load16(out + c + 16) + a1, out + c + 16)
            c += 32
        }
        while c + 8 <= n {
            var a0 = SIMD8<Float>()
            for k in 0..<count { a0 += weights[k * weightStride] * load8(rows + k * rowStride + c) }
            store8(load8(out + c) + a0, out + c)
            c += 8
        }
        while c < n {
            var a: Float = 0
            for k in 0..<count { a += weights[k * weightStride] * rows[k * rowStride + c] }
            out[c] += a
            c += 1
        }
    }
}
