// The k-quants: 256-element super-blocks split into 16 sub-blocks of 16 (Q2_K, Q3_K,
// Q6_K) or 8 of 32 (Q4_K, Q5_K), each sub-block with its own small integer scale (and
// min) that multiplies the super-block's f16 `d` (and `dmin`).

extension Dequantize {
    /// Q2_K, 84 bytes per 256: `scales: [16] u8, qs: [64] u8, d: f16, dmin: f16`.
    ///
    /// Element `y = 128n + 32j + t` (n < 2, j < 4, t < 32) is the 2-bit field
    /// `q = qs[32n + t] >> 2j & 3`; its sub-block `s = y / 16` has scale `sc = scales[s] & 15`
    /// and min `mn = scales[s] >> 4`: `y = (d · sc) · q − dmin · mn`.
    static func q2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 84, out = y + b * 256
            let d = half(block, 80), dmin = half(block, 82)
            for n in 0 ..< 2 {
                for j in 0 ..< 4 {
                    for half16 in 0 ..< 2 {
                        let sc = u8(block, n * 8 + j * 2 + half16)
                        let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                        for l in 0 ..< 16 {
                            let t = half16 * 16 + l
                            let q = (u8(block, 16 + n * 32 + t) >> UInt8(2 * j)) & 3
                            out[n * 128 + j * 32 + t] = dl * Float(q) - ml
                        }
                    }
                }
            }
        }
    }

    /// Q3_K, 110 bytes per 256: `hmask: [32] u8, qs: [64] u8, scales: [12] u8, d: f16`.
    ///
    /// Element `y = 128n + 32j + t` has low bits `qs[32n + t] >> 2j & 3` and high bit
    /// `hmask[t] >> (4n + j) & 1`; `q = low − (high ? 0 : 4)`. The 16 six-bit scales are
    /// packed as low nibbles (bytes 0–7, then their high nibbles) plus two high bits each
    /// from bytes 8–11, and stored with a +32 bias: `y = (d · (sc − 32)) · q`.
    static func q3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        var scales = [Int](repeating: 0, count: 16)
        for b in blocks {
            let block = x + b * 110, out = y + b * 256
            let d = half(block, 108)
            for i in 0 ..< 16 {
                let low = i < 8 ? u8(block, 96 + i) & 0xF : u8(block, 96 + i - 8) >> 4
                let high = (u8(block, 96 + 8 + i % 4) >> UInt8(2 * (i / 4))) & 3
                scales[i] = Int(low | high << 4) - 32
            }
            for n in 0 ..< 2 {
                for j in 0 ..< 4 {
                    for half16 in 0 ..< 2 {
                        let index = n * 128 + j * 32 + half16 * 16
                        let dl = d * Float(scales[index / 16])
                        for l in 0 ..< 16 {
                            let t = half16 * 16 + l
                            let low = Int((u8(block, 32 + n * 32 + t) >> UInt8(2 * j)) & 3)
                            let high = (u8(block, t) >> UInt8(4 * n + j)) & 1
                            out[index + l] = dl * Float(low - (high != 0 ? 0 : 4))
                        }
                    }
                }
            }
        }
    }

    /// Q4_K, 144 bytes per 256: `d: f16, dmin: f16, scales: [12] u8, qs: [128] u8`.
    ///
    /// Eight sub-blocks of 32 with 6-bit scale and min (``scaleMin(_:_:)``). Element
    /// `y = 64c + 32s + t` (c < 4, s < 2) is nibble `qs[32c + t] >> 4s & 15` of sub-block
    /// `2c + s`: `y = (d · sc) · q − dmin · mn`.
    static func q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 144, out = y + b * 256
            let d = half(block, 0), dmin = half(block, 2)
            for c in 0 ..< 4 {
                for s in 0 ..< 2 {
                    let (sc, mn) = scaleMin(block + 4, 2 * c + s)
                    let dl = d * Float(sc), ml = dmin * Float(mn)
                    for t in 0 ..< 32 {
                        let q = (u8(block, 16 + 32 * c + t) >> UInt8(4 * s)) & 0xF
                        out[64 * c + 32 * s + t] = dl * Float(q) - ml
                    }
                }
            }
        }
    }

    /// Q5_K, 176 bytes per 256: `d: f16, dmin: f16, scales: [12] u8, qh: [32] u8, qs: [128] u8`.
    ///
    /// As Q4_K, plus bit 4 of element `y` (sub-block `k = y / 32`, `t = y % 32`) is
    /// `qh[t] >> k & 1`.
    static func q5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 176, out = y + b * 256
            let d = half(block, 0), dmin = half(block, 2)
            for c in 0 ..< 4 {
                for s in 0 ..< 2 {
                    let k = 2 * c + s
                    let (sc, mn) = scaleMin(block + 4, k)
                    let dl = d * Float(sc), ml = dmin * Float(mn)
                    for t in 0 ..< 32 {
                        let low = (u8(block, 48 + 32 * c + t) >> UInt8(4 * s)) & 0xF
                        let high = (u8(block, 16 + t) >> UInt8(k)) & 1
                        out[32 * k + t] = dl * Float(low | high << 4) - ml
                    }
                }
            }
        }
    }

    /// Q6_K, 210 bytes per 256: `ql: [128] u8, qh: [64] u8, scales: [16] i8, d: f16`.
    ///
    /// Element `y = 128n + r` (r < 128) has low nibble `ql[64n + r % 64] >> 4(r / 64) & 15`
    /// and high bits `qh[32n + r % 32] >> 2(r / 32) & 3`; `q = (low | high << 4) − 32` and
    /// `y = (d · scales[y / 16]) · q`.
    static func q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 210, out = y + b * 256
            let d = half(block, 208)
            for n in 0 ..< 2 {
                for sub in 0 ..< 8 {
                    let dl = d * Float(Int8(bitPattern: u8(block, 192 + n * 8 + sub)))
                    for l in 0 ..< 16 {
                        let r = sub * 16 + l
                        let low = (u8(block, 64 * n + r % 64) >> UInt8(4 * (r / 64))) & 0xF
                        let high = (u8(block, 128 + 32 * n + r % 32) >> UInt8(2 * (r / 32))) & 3
                        out[128 * n + r] = dl * Float(Int(low | high << 4) - 32)
                    }
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (< 8) from Q4_K/Q5_K's 12 packed bytes:
    /// for j < 4, the low 6 bits of bytes j and j + 4; for j ≥ 4, the nibbles of byte j + 4
    /// with the top two bits of bytes j − 4 and j as bits 4–5.
    @inline(__always)
    static func scaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 {
            return (u8(scales, j) & 63, u8(scales, j + 4) & 63)
        }
        let sc = (u8(scales, j + 4) & 0xF) | (u8(scales, j - 4) >> 6) << 4
        let mn = (u8(scales, j + 4) >> 4) | (u8(scales, j) >> 6) << 4
        return (sc, mn)
    }
}
