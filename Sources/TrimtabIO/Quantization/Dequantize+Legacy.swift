// The original 32-element block formats. In every one, byte j of `qs` holds element j in
// its low nibble and element j + 16 in its high nibble (5-bit formats add bit j of `qh`
// as bit 4 of element j).

extension Dequantize {
    /// Q4_0, 18 bytes per 32 elements: `d: f16, qs: [16] u8`.
    /// `y = (q − 8) · d`, q a 4-bit nibble.
    static func q4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 18, out = y + b * 32
            let d = half(block, 0)
            for j in 0 ..< 16 {
                let q = u8(block, 2 + j)
                out[j] = Float(Int(q & 0xF) - 8) * d
                out[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    }

    /// Q4_1, 20 bytes per 32 elements: `d: f16, m: f16, qs: [16] u8`.
    /// `y = d · q + m`.
    static func q4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 20, out = y + b * 32
            let d = half(block, 0), m = half(block, 2)
            for j in 0 ..< 16 {
                let q = u8(block, 4 + j)
                out[j] = d * Float(q & 0xF) + m
                out[j + 16] = d * Float(q >> 4) + m
            }
        }
    }

    /// Q5_0, 22 bytes per 32 elements: `d: f16, qh: u32, qs: [16] u8`.
    /// `y = (q − 16) · d`, q = nibble | (bit j of qh) << 4.
    static func q5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 22, out = y + b * 32
            let d = half(block, 0), qh = u32(block, 2)
            for j in 0 ..< 16 {
                let q = u8(block, 6 + j)
                let lo = Int(q & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(lo - 16) * d
                out[j + 16] = Float(hi - 16) * d
            }
        }
    }

    /// Q5_1, 24 bytes per 32 elements: `d: f16, m: f16, qh: u32, qs: [16] u8`.
    /// `y = d · q + m`, q = nibble | (bit j of qh) << 4.
    static func q5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 24, out = y + b * 32
            let d = half(block, 0), m = half(block, 2), qh = u32(block, 4)
            for j in 0 ..< 16 {
                let q = u8(block, 8 + j)
                let lo = UInt32(q & 0xF) | ((qh >> UInt32(j)) & 1) << 4
                let hi = UInt32(q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(lo) + m
                out[j + 16] = d * Float(hi) + m
            }
        }
    }

    /// Q8_0, 34 bytes per 32 elements: `d: f16, qs: [32] i8`.
    /// `y = q · d`.
    static func q8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for b in blocks {
            let block = x + b * 34, out = y + b * 32
            let d = half(block, 0)
            for j in 0 ..< 32 {
                out[j] = Float(Int8(bitPattern: u8(block, 2 + j))) * d
            }
        }
    }
}
