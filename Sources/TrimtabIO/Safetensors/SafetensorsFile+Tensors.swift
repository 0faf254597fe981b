import TrimtabTensor

extension SafetensorsFile {
    /// The tensor `name` as `dtype` (f32 by default).
    ///
    /// When the stored type equals `dtype` (F32, F16 or BF16) and the data is aligned, the
    /// result borrows the mapped file: no copy, read-only memory. Other float types are
    /// converted (F16/BF16/F8 widen exactly; F64 rounds); integer and BOOL tensors are
    /// widened to f32 (exact up to 2^24 in magnitude).
    public func tensor(_ name: String, as dtype: DType = .f32) throws -> Tensor {
        let info = try info(name)
        let raw = try rawBytes(name)
        let count = info.elementCount
        if let stored = info.dtype.tensorDType {
            let native = nativeTensor(raw, shape: info.shape, dtype: stored)
            return stored == dtype ? native : native.converted(to: dtype)
        }
        let out = Tensor(zeros: info.shape)
        if count > 0, let src = raw.baseAddress {
            widen(src, info.dtype, into: out.floats, count: count)
        }
        return dtype == .f32 ? out : out.converted(to: dtype)
    }

    /// The integer tensor `name` (BOOL, U8…I64, U64) widened to Int64 (U64 values above
    /// `Int64.max` wrap).
    public func integers(_ name: String) throws -> [Int64] {
        let info = try info(name)
        guard info.dtype.isInteger else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name,
                                                   dtype: "\(info.dtype.rawValue) (integers were requested)")
        }
        let raw = try rawBytes(name)
        let size = info.dtype.byteSize
        return (0 ..< info.elementCount).map { i in
            let at = i * size
            switch info.dtype {
            case .bool, .u8: return Int64(raw.load(fromByteOffset: at, as: UInt8.self))
            case .i8: return Int64(raw.load(fromByteOffset: at, as: Int8.self))
            case .i16: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int16.self)))
            case .u16: return Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
            case .i32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
            case .u32: return Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            case .i64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self))
            default:
                return Int64(truncatingIfNeeded: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
            }
        }
    }

    /// A tensor of the stored dtype: a borrowed view when aligned, else an aligned copy.
    private func nativeTensor(_ raw: UnsafeRawBufferPointer, shape: [Int], dtype: DType) -> Tensor {
        guard let src = raw.baseAddress else { return Tensor(zeros: shape, dtype: dtype) }
        if Int(bitPattern: src) % dtype.byteSize == 0 {
            let storage = TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: src),
                                        byteCount: raw.count, owner: file)
            return Tensor(storage: storage, shape: shape, dtype: dtype)
        }
        let out = Tensor(zeros: shape, dtype: dtype)
        out.rawPointer.copyMemory(from: src, byteCount: raw.count)
        return out
    }
}

/// Widens `count` elements of a non-native safetensors type at `src` (any alignment) to f32.
private func widen(_ src: UnsafeRawPointer, _ type: SafetensorsDType, into dst: UnsafeMutablePointer<Float>,
                   count: Int) {
    func load<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
        T(littleEndian: src.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
    }
    for i in 0 ..< count {
        switch type {
        case .bool, .u8: dst[i] = Float(load(i, UInt8.self))
        case .i8: dst[i] = Float(load(i, Int8.self))
        case .i16: dst[i] = Float(load(i, Int16.self))
        case .u16: dst[i] = Float(load(i, UInt16.self))
        case .i32: dst[i] = Float(load(i, Int32.self))
        case .u32: dst[i] = Float(load(i, UInt32.self))
        case .i64: dst[i] = Float(load(i, Int64.self))
        case .u64: dst[i] = Float(load(i, UInt64.self))
        case .f64: dst[i] = Float(Double(bitPattern: load(i, UInt64.self)))
        case .f8e5m2: dst[i] = floatFromF16(UInt16(load(i, UInt8.self)) << 8)
        case .f8e4m3: dst[i] = floatFromF8E4M3(load(i, UInt8.self))
        case .f32: dst[i] = Float(bitPattern: load(i, UInt32.self))
        case .f16: dst[i] = floatFromF16(load(i, UInt16.self))
        case .bf16: dst[i] = floatFromBF16(load(i, UInt16.self))
        }
    }
}

/// Decodes an OCP FP8 E4M3FN value (bias 7, no infinities, S.1111.111 is NaN).
func floatFromF8E4M3(_ bits: UInt8) -> Float {
    let sign: Float = bits & 0x80 != 0 ? -1 : 1
    let exponent = Int((bits >> 3) & 0xF)
    let mantissa = Float(bits & 0x7)
    if exponent == 0xF && bits & 0x7 == 0x7 { return .nan }
    if exponent == 0 { return sign * mantissa / 8 * 0x1p-6 }
    return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
}
