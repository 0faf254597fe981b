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
// The products run in C (`CTrimtabKernels`): each input row is first rounded to 16-bit
// integers with one f32 scale per 32-element block, so that a block's dot product is exact
// integer arithmetic (AVX2's vpmaddwd) and only its scaling rounds. Widening the blocks to
// f32 instead, the best Swift's SIMD types express, costs ~18 cycles a block and ran at
// half the memory bandwidth. The result is the dequantised weights' product with the
// rounded activations, a relative step of 1/32767 of each block's largest magnitude.
// (llama.cpp rounds activations to 8 bits; with SmolLM2's outlier activations that moved
// the logits by up to 4.7% and changed greedy continuations, see the C file.)

import CTrimtabKernels

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

    /// `out[r, n] = Σ_k x̂[r, k] · W[n, k]` for `inputRows` rows of `x` (`[inputRows, columns]`,
    /// f32) into `out` (`[inputRows, rows]`, overwritten), where x̂ is `x` rounded to 16-bit
    /// integers per 32-element block (``roundedActivations(_:inputRows:)``).
    ///
    /// - Precondition: `1 ≤ inputRows ≤ maxRows`.
    public func product(_ x: UnsafePointer<Float>, inputRows: Int, into out: UnsafeMutablePointer<Float>) {
        Self.products([self], x, inputRows: inputRows, into: [out])
    }

    /// ``product(_:inputRows:into:)`` of the same input with several matrices of the same
    /// width (a layer's q, k and v projections), in one parallel region: the input is
    /// rounded once, and every thread takes its share of each matrix's rows. A decoded
    /// token runs ~200 products; each region costs the threads a wake-up and a barrier.
    ///
    /// - Precondition: every matrix has `columns` equal to the first's; `outs[i]` is
    ///   `[inputRows, matrices[i].rows]`; `1 ≤ inputRows ≤ maxRows`.
    public static func products(_ matrices: [QuantizedMatrix], _ x: UnsafePointer<Float>, inputRows: Int,
                                into outs: [UnsafeMutablePointer<Float>]) {
        precondition(inputRows >= 1 && inputRows <= maxRows, "\(inputRows) input rows (1…\(maxRows))")
        guard let first = matrices.first else { return }
        precondition(outs.count == matrices.count, "\(outs.count) outputs for \(matrices.count) matrices")
        precondition(matrices.allSatisfy { $0.columns == first.columns },
                     "fused block products of different widths: \(matrices.map(\.columns))")
        let blockProducts = matrices.reduce(0) { $0 + $1.rows } * (first.columns / blockSize) * inputRows
        // About 2,048 block products a chunk pay for the fork. One chunk a thread: four,
        // taken as threads free up, decoded 12% slower (shorter runs of each matrix's rows).
        let chunks = min(Parallel.threadCount, max(1, blockProducts / 2048))
        first.withQuantizedActivations(x, inputRows: inputRows) { q, scale, sum in
            Parallel.forChunks(chunks) { range in
                for chunk in range {
                    for (matrix, out) in zip(matrices, outs) {
                        let weights = UnsafePointer(matrix.base.assumingMemoryBound(to: UInt8.self))
                        trimtab_block_product(matrix.format.kernelFormat, weights, matrix.columns,
                                              matrix.rows * chunk / chunks, matrix.rows * (chunk + 1) / chunks,
                                              q, scale, sum, Int32(inputRows), out, matrix.rows)
                    }
                }
            }
        }
    }

    /// The activations a product multiplies: each row of `x` (`[inputRows, columns]`) in
    /// blocks of 32 rounded to multiples of `max|x| / 32767` over the block, as f32.
    func roundedActivations(_ x: UnsafePointer<Float>, inputRows: Int) -> Tensor {
        let out = Tensor(zeros: [inputRows, columns])
        let y = out.floats, count = inputRows * columns
        withQuantizedActivations(x, inputRows: inputRows) { q, scale, _ in
            for i in 0..<count { y[i] = scale[i / Self.blockSize] * Float(q[i]) }
        }
        return out
    }

    /// Quantises `inputRows` rows of `x` for the kernels (16-bit values, and per block the
    /// scale and the scaled sum of the values) into scratch memory that `body` borrows.
    private func withQuantizedActivations<R>(
        _ x: UnsafePointer<Float>, inputRows: Int,
        _ body: (UnsafePointer<Int16>, UnsafePointer<Float>, UnsafePointer<Float>) -> R
    ) -> R {
        let columns = columns, blocksPerRow = columns / Self.blockSize
        return withUnsafeTemporaryAllocation(of: Int16.self, capacity: max(inputRows * columns, 1)) { q in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(2 * inputRows * blocksPerRow, 1)) { scales in
                let q = q.baseAddress!, scale = scales.baseAddress!, sum = scale + inputRows * blocksPerRow
                for r in 0..<inputRows {
                    trimtab_quantize_activations(x + r * columns, columns, q + r * columns,
                                                 scale + r * blocksPerRow, sum + r * blocksPerRow)
                }
                return body(q, scale, sum)
            }
        }
    }
}

extension QuantizedMatrix.Format {
    var kernelFormat: trimtab_block_format {
        switch self {
        case .q4_0: return TRIMTAB_Q4_0
        case .q4_1: return TRIMTAB_Q4_1
        case .q8_0: return TRIMTAB_Q8_0
        }
    }
}
