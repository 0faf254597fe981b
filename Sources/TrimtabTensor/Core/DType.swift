import CTrimtabKernels

/// Element types a ``Tensor`` can store.
///
/// Activations, gradients and optimizer state are always `f32`. Frozen weights may be
/// stored as `bf16` or `f16` to halve their memory; kernels read them through the
/// conversions below (or hand them to the GEMM backend as bf16 directly).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f32
    case bf16
    case f16

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .bf16, .f16: return 2
        }
    }
}

// MARK: - Scalar conversions

/// Rounds an f32 to bf16 (round to nearest, ties to even; NaN stays NaN).
@inline(__always)
public func bf16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

/// Widens bf16 bits to f32 (exact).
@inline(__always)
public func floatFromBF16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Rounds an f32 to IEEE half precision bits.
@inline(__always)
public func f16Bits(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

/// Widens IEEE half precision bits to f32 (exact).
@inline(__always)
public func floatFromF16(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

// MARK: - Buffer conversions

/// Converts `count` f32 values to bf16.
public func convertToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
    Parallel.forChunks(count, grain: 1 << 15) { range in
        trimtab_f32_to_bf16(src + range.lowerBound, dst + range.lowerBound, range.count)
    }
}

/// Converts `count` bf16 values to f32.
public func convertFromBF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    Parallel.forChunks(count, grain: 1 << 15) { range in
        for i in range { dst[i] = floatFromBF16(src[i]) }
    }
}

/// Converts `count` f32 values to f16.
public func convertToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
    Parallel.forChunks(count, grain: 1 << 15) { range in
        for i in range { dst[i] = f16Bits(src[i]) }
    }
}

/// Converts `count` f16 values to f32.
public func convertFromF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    Parallel.forChunks(count, grain: 1 << 15) { range in
        for i in range { dst[i] = floatFromF16(src[i]) }
    }
}
