// Softmax over the last axis. Reference: PyTorch `torch.softmax`; llm.c
// `softmax_forward` (max subtraction) and the attention backward's softmax Jacobian.

/// Forward and backward kernels of softmax over rows of a `[rows, dim]` buffer, and the
/// row primitives (max, vectorised `exp`) that softmax cross-entropy shares.
///
///     m[r]    = max_j x[r, j]
///     y[r, i] = exp(x[r, i] − m[r]) / Σ_j exp(x[r, j] − m[r])
///
/// Subtracting the row max keeps every exponent ≤ 0, so logits of ±1e4 stay finite.
/// Backward, from the saved output `y`:
///
///     dx[r, i] += y[r, i] · (dy[r, i] − Σ_j dy[r, j] y[r, j])
enum Softmax {
    /// - Parameters:
    ///   - out: `[rows, dim]` probabilities (overwritten); the backward reads them.
    ///   - inp: `[rows, dim]` logits.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, dim: Int) {
        precondition(dim > 0 && rows >= 0, "softmax over rows \(rows), dim \(dim)")
        Parallel.forRows(rows, costPerRow: 4 * dim) { r in
            let x = inp + r * dim, y = out + r * dim
            let m = rowMax(x, count: dim)
            let inverse = Float(1 / storeExp(x, count: dim, shift: m, into: y))
            for i in 0..<dim { y[i] *= inverse }
        }
    }

    /// Accumulates the gradient of ``forward(out:inp:rows:dim:)``.
    ///
    /// - Parameters:
    ///   - dinp: `[rows, dim]` gradient of the logits, accumulated into.
    ///   - dout: `[rows, dim]` gradient of the probabilities.
    ///   - out: `[rows, dim]` the forward's probabilities.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                         out: UnsafePointer<Float>, rows: Int, dim: Int) {
        precondition(dim > 0 && rows >= 0, "softmax over rows \(rows), dim \(dim)")
        Parallel.forRows(rows, costPerRow: 3 * dim) { r in
            let y = out + r * dim, dy = dout + r * dim, dx = dinp + r * dim
            var dot = 0.0
            for j in 0..<dim { dot += Double(dy[j]) * Double(y[j]) }
            let d = Float(dot)
            for i in 0..<dim { dx[i] += y[i] * (dy[i] - d) }
        }
    }

    // MARK: - Row primitives

    typealias Vector = SIMD8<Float>

    /// `max_i x[i]` over `count > 0` elements.
    static func rowMax(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var i = 0, best = -Float.infinity
        if count >= Vector.scalarCount {
            var lanes = load(x)
            i = Vector.scalarCount
            while i + Vector.scalarCount <= count {
                let v = load(x + i)
                lanes.replace(with: v, where: v .> lanes)
                i += Vector.scalarCount
            }
            best = lanes.max()
        }
        while i < count {
            best = max(best, x[i])
            i += 1
        }
        return best
    }

    /// Writes `out[i] = exp(x[i] − shift)` and returns `Σ_i out[i]`, summed in Double.
    static func storeExp(_ x: UnsafePointer<Float>, count: Int, shift: Float,
                         into out: UnsafeMutablePointer<Float>) -> Double {
        var i = 0, lanes = SIMD8<Double>(), sum = 0.0
        let s = Vector(repeating: shift)
        while i + Vector.scalarCount <= count {
            let e = exp(load(x + i) - s)
            UnsafeMutableRawPointer(out + i).storeBytes(of: e, as: Vector.self)
            lanes += SIMD8<Double>(e)
            i += Vector.scalarCount
        }
        while i < count {
            let e = exp(x[i] - shift)
            out[i] = e
            sum += Double(e)
            i += 1
        }
        return lanes.sum() + sum
    }

    /// `Σ_i exp(x[i] − shift)`, summed in Double.
    static func sumExp(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Double {
        var i = 0, lanes = SIMD8<Double>(), sum = 0.0
        let s = Vector(repeating: shift)
        while i + Vector.scalarCount <= count {
            lanes += SIMD8<Double>(exp(load(x + i) - s))
            i += Vector.scalarCount
        }
        while i < count {
            sum += Double(exp(x[i] - shift))
            i += 1
        }
        return lanes.sum() + sum
    }

    /// `out[i] += exp(x[i] − shift) · scale`.
    static func accumulateExp(_ x: UnsafePointer<Float>, count: Int, shift: Float, scale: Float,
                              into out: UnsafeMutablePointer<Float>) {
        var i = 0
        let s = Vector(repeating: shift)
        while i + Vector.scalarCount <= count {
            let updated = load(out + i) + exp(load(x + i) - s) * scale
            UnsafeMutableRawPointer(out + i).storeBytes(of: updated, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < count {
            out[i] += exp(x[i] - shift) * scale
            i += 1
        }
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    /// `eˣ` lane by lane, within about 2 ulp of the correctly rounded result.
    ///
    /// Cephes `expf`: `eˣ = 2ⁿ · e^r` with `n = round(x / ln 2)`, `r = x − n ln 2`
    /// (ln 2 split in two for an exact reduction), `e^r` by a degree-7 polynomial on
    /// `|r| ≤ ln 2 / 2`, and `2ⁿ` built in the exponent bits. Rounding uses the
    /// 1.5·2²³ trick, so everything stays in baseline SSE2. Inputs above 88.376 saturate
    /// at 2.4e38 (softmax never gets there: its exponents are ≤ 0); inputs below −87.336
    /// give 0.
    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        // (`replace(with:where:)` measured 2–3× faster here than `clamped(lowerBound:upperBound:)`.)
        var x = input
        x.replace(with: 88.376_262_664_794_9, where: x .> 88.376_262_664_794_9)
        x.replace(with: -87.336_547_851_562_5, where: x .< -87.336_547_851_562_5)
        let magic: Float = 12_582_912  // 1.5 · 2²³: adding it rounds to an integer
        let t = x * 1.442_695_040_888_963_41 + magic
        let n = t - magic
        let r = (x - n * 0.693_359_375) + n * 2.121_944_400_546_905_827_7e-4
        var p = Vector(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        let exponent = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000  // n as an integer
        let scale = unsafeBitCast((exponent &+ 127) &<< 23, to: Vector.self)
        var result = p * scale
        result.replace(with: 0, where: input .< -87.336_547_851_562_5)
        return result
    }

    /// Scalar `eˣ` with the same rounding as the vector version (for row tails).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(Vector(repeating: x))[0]
    }
}
