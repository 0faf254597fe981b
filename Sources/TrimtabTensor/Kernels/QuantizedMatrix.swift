// Products with weight matrices kept in ggml's 32-element block formats.
//
// Decoding one token reads every weight once for a handful of multiply-adds, so its speed
// is the speed at which weights stream from memory. A GGUF model's Q4_1 blocks are 5 bits
// a weight and Q8_0 blocks 8.5, against 32 for the dequantised f32 matrix (16 for bf16);
// multiplying straight from the blocks reads 3.8–6.4× fewer bytes per token.
//
// Block layouts (little-endian, f16 scales), as in ggml:
//   Q4_0  18 bytes: d, qs[16]      w = d · (q − 8)
//   Q4_1  20 bytes: d, m, qs[16]   w = d · q + m
//   Q8_0  34 bytes: d, qs[32] (i8) w = d · q
// In the 4-bit formats, byte j of `qs` holds element j in its low nibble and element
// j + 16 in its high nibble.
//
// With one input row (batch-1 decoding) the kernel widens each block's 32 integers to
// f32 and accumulates d · Σ q·x (plus, for Q4_1, m · Σ x over the block, the block sums of
// x computed once per product). With several, it dequantises a weight row once and takes
// its dot product with four input rows at a time. Either is the dequantised weight's
// product reordered, so it agrees with the f32 path up to float rounding.

/// A `[rows, columns]` weight matrix in a 32-element block format, for `x · Wᵀ` with a few
/// input rows (decoding).
public struct QuantizedMatrix: @unchecked Sendable {
    /// The block formats with a product kernel.
    public enum Format: String, Sendable, CaseIterable {
        case q4_0, q4_1, q8_0

        /// Bytes per 32-element block.
        public var blockBytes: Int {
            switch self {
            case .q4_0: return 18
            case .q4_1: return 20
            case .q8_0: return 34
            }
        }
    }

    /// Elements per block.
    public static let blockSize = 32
    /// The most input rows a product takes.
    public static let maxRows = 8

    /// The most input rows worth multiplying from the blocks rather than with a GEMM on
    /// the `dense` copy of the same weights. Measured on SmolLM2 (2 cores, AVX-512 + AMX):
    /// against f32 matrices the blocks win at 1 row (2.4×) and tie at 8; against bf16
    /// ones (AMX) they win at 1 row (1.5×) and lose at 8 (1.8×).
    public static func rowsWorthBlocks(over dense: DType) -> Int {
        dense == .f32 ? maxRows : 1
    }

    public let format: Format
    /// Output features (rows of the weight).
    public let rows: Int
    /// Input features (a multiple of 32).
    public let columns: Int
    /// The blocks, row after row, starting `offset` bytes into `storage`.
    public let storage: TensorStorage
    public let offset: Int

    /// Bytes of one row's blocks.
    public var rowBytes: Int { columns / Self.blockSize * format.blockBytes }

    /// Wraps `rows × columns` weights stored as blocks at `offset` bytes into `storage`.
    ///
    /// - Precondition: `columns` is a multiple of 32 and the blocks fit in `storage`.
    public init(format: Format, rows: Int, columns: Int, storage: TensorStorage, offset: Int = 0) {
        precondition(rows >= 0 && columns >= 0 && columns % Self.blockSize == 0,
                     "a \(format.rawValue) matrix needs whole 32-element blocks per row, not \(columns) columns")
        precondition(offset + rows * (columns / Self.blockSize) * format.blockBytes <= storage.byteCount,
                     "\(rows)×\(columns) \(format.rawValue) blocks exceed their storage")
        self.format = format
        self.rows = rows
        self.columns = columns
        self.storage = storage
        self.offset = offset
    }

    private var base: UnsafeRawPointer { UnsafeRawPointer(storage.base + offset) }

    /// A copy (in new memory) whose row `i` is this matrix's row `source(i)`.
    public func reorderingRows(_ source: (Int) -> Int) -> QuantizedMatrix {
        let bytes = rowBytes
        let copy = TensorStorage(byteCount: rows * bytes)
        for i in 0..<rows {
            (copy.base + i * bytes).copyMemory(from: base + source(i) * bytes, byteCount: bytes)
        }
        return QuantizedMatrix(format: format, rows: rows, columns: columns, storage: copy)
    }

    /// The weights as an f32 `[rows, columns]` tensor (ggml's dequantisation).
    public func dequantized() -> Tensor {
        switch format {
        case .q4_0: return dequantized(Q4_0Blocks.self)
        case .q4_1: return dequantized(Q4_1Blocks.self)
        case .q8_0: return dequantized(Q8_0Blocks.self)
        }
    }

    private func dequantized<B: BlockKernel>(_: B.Type) -> Tensor {
        let out = Tensor(zeros: [rows, columns])
        let y = out.floats, src = base
        Parallel.forChunks(rows * columns / Self.blockSize, grain: 1024) { range in
            for b in range { B.dequantize(src + b * B.blockBytes, into: y + b * Self.blockSize) }
        }
        return out
    }

    /// `out[r, n] = Σ_k x[r, k] · W[n, k]` for `inputRows` rows of `x` (`[inputRows, columns]`,
    /// f32) into `out` (`[inputRows, rows]`, overwritten).
    ///
    /// - Precondition: `1 ≤ inputRows ≤ maxRows`.
    public func product(_ x: UnsafePointer<Float>, inputRows: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(inputRows >= 1 && inputRows <= Self.maxRows, "\(inputRows) input rows (1…\(Self.maxRows))")
        switch format {
        case .q4_0: run(Q4_0Blocks.self, x, inputRows, out)
        case .q4_1: run(Q4_1Blocks.self, x, inputRows, out)
        case .q8_0: run(Q8_0Blocks.self, x, inputRows, out)
        }
    }

    private func run<B: BlockKernel>(_: B.Type, _ x: UnsafePointer<Float>, _ inputRows: Int,
                                     _ out: UnsafeMutablePointer<Float>) {
        let blocksPerRow = columns / Self.blockSize, bytes = rowBytes, weightRows = rows
        let src = base, columns = columns
        // For one input row, Σ x over each block, for formats with a per-block minimum.
        let sumsNeeded = B.hasMinimum && inputRows == 1
        withUnsafeTemporaryAllocation(of: Float.self, capacity: sumsNeeded ? blocksPerRow : 1) { sums in
            let xsum = sums.baseAddress!
            if sumsNeeded {
                for b in 0..<blocksPerRow {
                    let p = UnsafeRawPointer(x + b * Self.blockSize)
                    xsum[b] = horizontalSum(p.loadUnaligned(as: SIMD16<Float>.self)
                                            + p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
                }
            }
            // About 2,048 blocks per thread is enough to pay for the fork.
            let grain = max(1, 2048 / max(blocksPerRow * inputRows, 1))
            Parallel.forChunks(weightRows, grain: grain) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: inputRows == 1 ? 32 : columns) { buffer in
                    let scratch = buffer.baseAddress!
                    for n in range {
                        let row = src + n * bytes
                        guard inputRows > 1 else {
                            // One input row: widen a block at a time and scale its dot product.
                            var a = SIMD16<Float>(), minimum: Float = 0
                            for b in 0..<blocksPerRow {
                                let (d, m) = B.widen(row + b * B.blockBytes, into: scratch)
                                a.addProduct(SIMD16(repeating: d), dot32(scratch, x + b * Self.blockSize))
                                if B.hasMinimum { minimum += m * xsum[b] }
                            }
                            out[n] = horizontalSum(a) + minimum
                            continue
                        }
                        // Several input rows: dequantise the row once, then one dot product per
                        // input row, four at a time so each loaded weight feeds four.
                        for b in 0..<blocksPerRow {
                            B.dequantize(row + b * B.blockBytes, into: scratch + b * Self.blockSize)
                        }
                        var r = 0
                        while r < inputRows {
                            let group = min(4, inputRows - r)
                            let sums = dots(scratch, x + r * columns, rows: group, columns: columns)
                            for i in 0..<group { out[(r + i) * weightRows + n] = sums[i] }
                            r += group
                        }
                    }
                }
            }
        }
    }
}

/// The dot products of `w` (`columns` floats) with up to four rows of `x`.
@inline(__always)
private func dots(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, columns: Int) -> SIMD4<Float> {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    let wp = UnsafeRawPointer(w)
    let x0 = UnsafeRawPointer(x), x1 = x0 + 4 * columns * min(1, rows - 1)
    let x2 = x0 + 4 * columns * min(2, rows - 1), x3 = x0 + 4 * columns * min(3, rows - 1)
    var k = 0
    while k < 4 * columns {
        let v = wp.loadUnaligned(fromByteOffset: k, as: SIMD16<Float>.self)
        a0.addProduct(v, x0.loadUnaligned(fromByteOffset: k, as: SIMD16<Float>.self))
        a1.addProduct(v, x1.loadUnaligned(fromByteOffset: k, as: SIMD16<Float>.self))
        a2.addProduct(v, x2.loadUnaligned(fromByteOffset: k, as: SIMD16<Float>.self))
        a3.addProduct(v, x3.loadUnaligned(fromByteOffset: k, as: SIMD16<Float>.self))
        k += 64
    }
    return SIMD4(horizontalSum(a0), horizontalSum(a1), horizontalSum(a2), horizontalSum(a3))
}

/// One block format's widening step: the 32 integers of the block at `block` as f32 at
/// `into`, returning the block's scale and minimum (0 if none).
private protocol BlockKernel {
    static var blockBytes: Int { get }
    static var hasMinimum: Bool { get }
    static func widen(_ block: UnsafeRawPointer, into: UnsafeMutablePointer<Float>) -> (Float, Float)
}

extension BlockKernel {
    /// The block's 32 weights, `d · q + m`, at `into` (ggml's arithmetic: Q4_0's
    /// `(q − 8) · d` and Q8_0's `q · d` are the same products with `m = 0`).
    @inline(__always)
    static func dequantize(_ block: UnsafeRawPointer, into o: UnsafeMutablePointer<Float>) {
        let (d, m) = widen(block, into: o)
        for j in 0..<32 { o[j] = d * o[j] + m }
    }
}

// The widening loops are plain scalar loops: LLVM turns them into byte-to-dword
// extensions and integer-to-float conversions eight lanes at a time, which Swift's SIMD
// integer conversions do not (they go through an outlined call).

private enum Q4_0Blocks: BlockKernel {
    static var blockBytes: Int { 18 }
    static var hasMinimum: Bool { false }
    @inline(__always)
    static func widen(_ block: UnsafeRawPointer, into o: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let q = (block + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            o[j] = Float(Int32(q[j] & 0xF) - 8)
            o[j + 16] = Float(Int32(q[j] >> 4) - 8)
        }
        return (halfAt(block, 0), 0)
    }
}

private enum Q4_1Blocks: BlockKernel {
    static var blockBytes: Int { 20 }
    static var hasMinimum: Bool { true }
    @inline(__always)
    static func widen(_ block: UnsafeRawPointer, into o: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let q = (block + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            o[j] = Float(q[j] & 0xF)
            o[j + 16] = Float(q[j] >> 4)
        }
        return (halfAt(block, 0), halfAt(block, 2))
    }
}

private enum Q8_0Blocks: BlockKernel {
    static var blockBytes: Int { 34 }
    static var hasMinimum: Bool { false }
    @inline(__always)
    static func widen(_ block: UnsafeRawPointer, into o: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let q = (block + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { o[j] = Float(q[j]) }
        return (halfAt(block, 0), 0)
    }
}

/// Σ w[j] · x[j] over 32 elements, as 16 lanes.
///
/// The widening loops before it store 8 lanes at a time; built for AVX2 (the package
/// default), a 16-lane load is two 8-lane loads that match those stores. Built for
/// AVX-512, it is one 64-byte load of two 32-byte stores still in flight, which the CPU
/// cannot forward, and the kernel runs ~3× slower (8-lane loads avoid that, but Swift
/// then compiles this module's loop into scalar inserts).
@inline(__always)
private func dot32(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>) -> SIMD16<Float> {
    let wp = UnsafeRawPointer(w), xp = UnsafeRawPointer(x)
    var s = wp.loadUnaligned(as: SIMD16<Float>.self) * xp.loadUnaligned(as: SIMD16<Float>.self)
    s.addProduct(wp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self),
                 xp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
    return s
}

/// The sum of 16 lanes as a tree of halves (a sequential `sum()` is 15 dependent adds).
@inline(__always)
private func horizontalSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// The little-endian f16 at byte `offset` of `block`, widened.
@inline(__always)
private func halfAt(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
    floatFromF16(UInt16(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}
