// Elementwise kernels: sums, products, scaling and bias broadcast over f32 buffers.
//
// llm.c style: each op is a forward/backward pair over raw pointers; backward kernels
// ACCUMULATE into their gradient buffers (`d… += …`). Loops run 16 lanes at a time
// (SIMD16<Float>, unaligned loads, since tensor views need not start on a vector
// boundary) and split into chunks across cores when the buffer is large.

/// Elementwise f32 kernels (add, multiply, scale, bias broadcast) and the SIMD access
/// helpers the other pointwise kernels share.
enum Elementwise {
    /// Elements per chunk below which a loop stays on one thread.
    static let grain = 1 << 15

    // MARK: - SIMD access

    /// Loads 16 floats from `p` (no alignment needed).
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// Loads the first `lanes` (≤ 16) floats at `p`; the other lanes are zero.
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, lanes: Int) -> SIMD16<Float> {
        if lanes == 16 { return load(p) }
        var v = SIMD16<Float>()
        for l in 0..<lanes { v[l] = p[l] }
        return v
    }

    /// Stores 16 floats at `p` (no alignment needed).
    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// Stores the first `lanes` (≤ 16) lanes of `v` at `p`.
    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
        if lanes == 16 { return store(v, p) }
        for l in 0..<lanes { p[l] = v[l] }
    }

    /// Runs `body(i, lanes)` over `range` in steps of 16 (`lanes == 16`) and once for
    /// the remainder (`lanes < 16`), so a vector kernel computes every element with the
    /// same formula wherever the chunk boundaries fall. Bodies read and write through
    /// ``load(_:lanes:)`` and ``store(_:_:lanes:)``.
    @inline(__always)
    static func vectors(_ range: Range<Int>, _ body: (_ i: Int, _ lanes: Int) -> Void) {
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            body(i, 16)
            i += 16
        }
        if i < range.upperBound { body(i, range.upperBound - i) }
    }

    /// Applies a 16-lane map `f` to `count` elements of `inp` and writes the results to
    /// `out`, in parallel chunks. `out` and `inp` may be the same buffer.
    @inline(__always)
    static func map(out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count: Int,
                    _ f: (SIMD16<Float>) -> SIMD16<Float>) {
        Parallel.forChunks(count, grain: grain) { range in
            vectors(range) { i, lanes in
                store(f(load(inp + i, lanes: lanes)), out + i, lanes: lanes)
            }
        }
    }

    /// `out[i] = f(a[i], b[i])` for 16 lanes at a time, in parallel chunks.
    @inline(__always)
    static func zip(out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    count: Int, _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
        Parallel.forChunks(count, grain: grain) { range in
            vectors(range) { i, lanes in
                store(f(load(a + i, lanes: lanes), load(b + i, lanes: lanes)), out + i, lanes: lanes)
            }
        }
    }

    // MARK: - Kernels

    /// `out = a + b`.
    ///
    /// - Parameters: `out`, `a`, `b`: `[count]`.
    static func add(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        zip(out: out, a, b, count: count) { $0 + $1 }
    }

    /// `dinp += dout` — the backward of `add`, `reshape` and every identity-like op.
    ///
    /// - Parameters: `dinp`, `dout`: `[count]`.
    static func accumulate(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, count: Int) {
        zip(out: dinp, dinp, dout, count: count) { $0 + $1 }
    }

    /// `out = a ⊙ b`.
    ///
    /// - Parameters: `out`, `a`, `b`: `[count]`.
    static func mul(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        zip(out: out, a, b, count: count) { $0 * $1 }
    }

    /// `dinp += dout ⊙ other` — the backward of `mul` for one factor (`other` is the
    /// other factor).
    ///
    /// - Parameters: `dinp`, `dout`, `other`: `[count]`.
    static func mulBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                            other: UnsafePointer<Float>, count: Int) {
        Parallel.forChunks(count, grain: grain) { range in
            vectors(range) { i, lanes in
                let v = load(dinp + i, lanes: lanes) + load(dout + i, lanes: lanes) * load(other + i, lanes: lanes)
                store(v, dinp + i, lanes: lanes)
            }
        }
    }

    /// `out = inp · factor`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func scale(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, factor: Float, count: Int) {
        map(out: out, inp, count: count) { $0 * factor }
    }

    /// `dinp += dout · factor` — the backward of `scale`.
    ///
    /// - Parameters: `dinp`, `dout`: `[count]`.
    static func scaleBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, factor: Float, count: Int) {
        zip(out: dinp, dinp, dout, count: count) { $0 + $1 * factor }
    }

    /// `out[r, c] = inp[r, c] + bias[c]`.
    ///
    /// - Parameters:
    ///   - out, inp: `[rows, C]` (`out` may be `inp`).
    ///   - bias: `[C]`.
    static func addBias(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        rows: Int, C: Int) {
        Parallel.forRows(rows, costPerRow: C) { r in
            let o = out + r * C, x = inp + r * C
            vectors(0..<C) { i, lanes in
                store(load(x + i, lanes: lanes) + load(bias + i, lanes: lanes), o + i, lanes: lanes)
            }
        }
    }

    /// `dbias[c] += Σ_r dout[r, c]` — the bias half of `addBias`'s backward (the input
    /// half is ``accumulate(dinp:dout:count:)``). Channels are split across threads and
    /// each sums its rows in order, so the result does not depend on the thread count.
    ///
    /// - Parameters:
    ///   - dbias: `[C]`.
    ///   - dout: `[rows, C]`.
    static func addBiasBackward(dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, C: Int) {
        let grainChannels = max(16, grain / max(rows, 1))
        Parallel.forChunks(C, grain: grainChannels) { channels in
            vectors(channels) { c, lanes in
                var sum = load(dbias + c, lanes: lanes)
                for r in 0..<rows { sum += load(dout + r * C + c, lanes: lanes) }
                store(sum, dbias + c, lanes: lanes)
            }
        }
    }
}
