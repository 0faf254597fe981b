import TrimtabTensor

/// Dequantisation kernels: ggml's block formats to f32.
///
/// Each kernel turns a range of blocks at `x` (raw, any alignment, little-endian) into
/// `blockSize` floats per block at `y`. The arithmetic follows ggml's reference
/// `dequantize_row_*` operation for operation (f32 products, no fused multiply-add), so the
/// results equal ggml's and the `gguf` Python package's bit for bit. Block layouts are in
/// each kernel's comment; `f16` fields are IEEE half precision.
public enum Dequantize {
    /// Dequantises `count` elements of `type` from `x` into `y`, blocks split across cores.
    ///
    /// - Precondition: `type.isDequantizable`, and `count` is a multiple of the block size.
    public static func run(_ type: GGMLType, _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, count: Int) {
        precondition(type.isDequantizable, "no dequantisation kernel for \(type.name)")
        precondition(count >= 0 && count % type.blockSize == 0, "\(count) elements is not whole \(type.name) blocks")
        let blocks = count / type.blockSize
        let kernel: (UnsafeRawPointer, UnsafeMutablePointer<Float>, Range<Int>) -> Void
        switch type {
        case .f32: kernel = f32
        case .f16: kernel = f16
        case .bf16: kernel = bf16
        case .f64: kernel = f64
        case .i8: kernel = { x, y, r in integers(x, y, r, Int8.self) }
        case .i16: kernel = { x, y, r in integers(x, y, r, Int16.self) }
        case .i32: kernel = { x, y, r in integers(x, y, r, Int32.self) }
        case .i64: kernel = { x, y, r in integers(x, y, r, Int64.self) }
        case .q4_0: kernel = q4_0
        case .q4_1: kernel = q4_1
        case .q5_0: kernel = q5_0
        case .q5_1: kernel = q5_1
        case .q8_0: kernel = q8_0
        case .q2_K: kernel = q2_K
        case .q3_K: kernel = q3_K
        case .q4_K: kernel = q4_K
        case .q5_K: kernel = q5_K
        case .q6_K: kernel = q6_K
        default: preconditionFailure("no dequantisation kernel for \(type.name)")
        }
        let grain = max(1, (1 << 16) / type.blockSize)
        Parallel.forChunks(blocks, grain: grain) { range in kernel(x, y, range) }
    }

    // MARK: - Plain element types (block size 1)

    /// F32: `y[i] = x[i]`.
    static func f32(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for i in blocks { y[i] = Float(bitPattern: u32(x, 4 * i)) }
    }

    /// F16: `y[i] = Float(x[i])` (exact).
    static func f16(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for i in blocks { y[i] = half(x, 2 * i) }
    }

    /// BF16: the 16 bits are the top half of an f32 (exact).
    static func bf16(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for i in blocks { y[i] = floatFromBF16(u16(x, 2 * i)) }
    }

    /// F64: rounded to the nearest f32.
    static func f64(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ blocks: Range<Int>) {
        for i in blocks {
            y[i] = Float(Double(bitPattern: UInt64(littleEndian: x.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        }
    }

    /// I8…I64: widened to f32.
    static func integers<T: FixedWidthInteger & SignedInteger>(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>,
                                                               _ blocks: Range<Int>, _: T.Type) {
        let size = MemoryLayout<T>.size
        for i in blocks { y[i] = Float(T(littleEndian: x.loadUnaligned(fromByteOffset: size * i, as: T.self))) }
    }
}

// MARK: - Field access

/// The little-endian u16 at byte `offset`.
@inline(__always)
func u16(_ x: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: x.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

/// The little-endian u32 at byte `offset`.
@inline(__always)
func u32(_ x: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: x.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

/// The byte at `offset`.
@inline(__always)
func u8(_ x: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    x.load(fromByteOffset: offset, as: UInt8.self)
}

/// The f16 at byte `offset`, widened to f32.
@inline(__always)
func half(_ x: UnsafeRawPointer, _ offset: Int) -> Float {
    floatFromF16(u16(x, offset))
}
