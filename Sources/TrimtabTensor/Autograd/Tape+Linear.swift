// Matrix products on the tape: `matmul` (batched, transposes as flags) and `linear`.
//
// Gradients of C = op(A) · op(B), written as accumulating GEMMs (beta = 1), or with beta 0
// into a gradient nothing has flowed to yet (`Variable.gradDestination`):
//   C = A  B  : dA += dC Bᵀ      dB += Aᵀ dC
//   C = A  Bᵀ : dA += dC B       dB += dCᵀ A
//   C = Aᵀ B  : dA += B dCᵀ      dB += A dC
//   C = Aᵀ Bᵀ : dA += Bᵀ dCᵀ     dB += dCᵀ Aᵀ

extension Tape {
    /// `op(a) · op(b)` for rank-2 tensors or rank-3 batches of equal size.
    ///
    /// - Parameters:
    ///   - a: `[M, K]` (or `[K, M]` when `transA`), optionally with a leading batch axis.
    ///   - b: `[K, N]` (or `[N, K]` when `transB`), same batch as `a`.
    /// - Returns: `[M, N]` (batched: `[batch, M, N]`).
    public func matmul(_ a: Variable, _ b: Variable, transA: Bool = false, transB: Bool = false) -> Variable {
        precondition(a.value.rank == b.value.rank && (a.value.rank == 2 || a.value.rank == 3),
                     "matmul of ranks \(a.value.rank) and \(b.value.rank)")
        let batched = a.value.rank == 3
        let batch = batched ? a.shape[0] : 1
        if batched { precondition(b.shape[0] == batch, "matmul batch \(a.shape) vs \(b.shape)") }
        let aRows = a.shape[a.value.rank - 2], aCols = a.shape[a.value.rank - 1]
        let bRows = b.shape[b.value.rank - 2], bCols = b.shape[b.value.rank - 1]
        let m = transA ? aCols : aRows, k = transA ? aRows : aCols
        let n = transB ? bRows : bCols
        precondition((transB ? bCols : bRows) == k, "matmul inner dimensions \(a.shape) · \(b.shape)")
        let out = Tensor(uninitialized: batched ? [batch, m, n] : [m, n])  // beta = 0 overwrites
        GEMM.sgemm(GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k, batch: batch),
                   a: a.value.floats, b: b.value.floats, c: out.floats)
        return output(.matmul, out, inputs: [a, b]) { dout in
            if a.requiresGrad {
                let (da, accumulate) = a.gradDestination()
                let beta: Float = accumulate ? 1 : 0
                // dA has A's stored layout: [M, K] or, when transA, [K, M].
                if !transA {
                    GEMM.sgemm(GEMMShape(transB: !transB, m: m, n: k, k: n, batch: batch),
                               a: dout.floats, b: b.value.floats, beta: beta, c: da.floats)
                } else {
                    GEMM.sgemm(GEMMShape(transA: transB, transB: true, m: k, n: m, k: n, batch: batch),
                               a: b.value.floats, b: dout.floats, beta: beta, c: da.floats)
                }
            }
            if b.requiresGrad {
                let (db, accumulate) = b.gradDestination()
                let beta: Float = accumulate ? 1 : 0
                if !transB {
                    GEMM.sgemm(GEMMShape(transA: !transA, m: k, n: n, k: m, batch: batch),
                               a: a.value.floats, b: dout.floats, beta: beta, c: db.floats)
                } else {
                    GEMM.sgemm(GEMMShape(transA: true, transB: transA, m: n, n: k, k: m, batch: batch),
                               a: dout.floats, b: a.value.floats, beta: beta, c: db.floats)
                }
            }
        }
    }

    /// `x · Wᵀ + b`, the projection of every linear layer.
    ///
    /// - Parameters:
    ///   - x: `[..., inFeatures]` (f32).
    ///   - weight: `[outFeatures, inFeatures]`, f32 or bf16 (a frozen bf16 weight runs on
    ///     the backend's bf16 kernels; the activations are rounded to bf16 for the product,
    ///     or taken from ``Variable/roundedBF16`` when the op that made `x` wrote them so).
    ///     A frozen weight with ``Variable/quantized`` blocks multiplies the few rows
    ///     that need no gradient (``QuantizedMatrix/rowsWorthBlocks(over:)``) from them.
    ///   - bias: `[outFeatures]` or `nil`.
    /// - Returns: `[..., outFeatures]`.
    public func linear(_ x: Variable, _ weight: Variable, bias: Variable? = nil) -> Variable {
        let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
        precondition(x.shape.last == inFeatures, "linear: input \(x.shape) for weight \(weight.shape)")
        let rows = x.value.count / max(inFeatures, 1)
        var outShape = x.shape
        outShape[outShape.count - 1] = outFeatures
        let out = Tensor(uninitialized: outShape)  // both products overwrite every element
        if let blocks = weight.quantized, rows >= 1, rows <= QuantizedMatrix.rowsWorthBlocks(over: weight.value.dtype),
           !x.requiresGrad, !weight.requiresGrad {
            blocks.product(x.value.floats, inputRows: rows, into: out.floats)
        } else {
            Self.weightProduct(GEMMShape(transB: true, m: rows, n: outFeatures, k: inFeatures), a: x.value.floats,
                               rounded: x.roundedBF16?.halves, weight: weight.value, c: out.floats)
        }
        if let bias { Self.addBias(bias.value, to: out, rows: rows) }
        // A frozen weight's backward reads the weight, not the input.
        return output(.linear, out, inputs: [x, weight, bias], unread: weight.requiresGrad ? [] : [x]) { dout in
            // Each product overwrites a gradient nothing has flowed to yet (beta 0).
            if x.requiresGrad {
                // dx[rows, in] += dy[rows, out] · W[out, in]
                let (dx, accumulate) = x.gradDestination()
                Self.weightProduct(GEMMShape(m: rows, n: inFeatures, k: outFeatures), a: dout.floats,
                                   weight: weight.value, beta: accumulate ? 1 : 0, c: dx.floats)
            }
            if weight.requiresGrad {
                precondition(weight.value.dtype == .f32, "trainable weights must be f32")
                // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
                let (dw, accumulate) = weight.gradDestination()
                GEMM.sgemm(GEMMShape(transA: true, m: outFeatures, n: inFeatures, k: rows),
                           a: dout.floats, b: x.value.floats, beta: accumulate ? 1 : 0, c: dw.floats)
            }
            if let bias, bias.requiresGrad {
                let db = bias.gradBuffer().floats, dy = dout.floats
                for r in 0..<rows {
                    let row = dy + r * outFeatures
                    for j in 0..<outFeatures { db[j] += row[j] }
                }
            }
        }
    }

    /// `linear(x, weights[i], bias: biases[i])` for every `i`: the projections of one input
    /// (a layer's q, k and v). When none needs a gradient and every weight multiplies
    /// `x`'s few rows from its quantised blocks (decoding), the products run fused
    /// (``QuantizedMatrix/products(_:_:inputRows:into:)``: one parallel region, the input
    /// rounded once); otherwise each is a ``linear(_:_:bias:)``.
    public func linears(_ x: Variable, _ weights: [Variable], biases: [Variable?]) -> [Variable] {
        precondition(biases.count == weights.count, "linears: \(biases.count) biases for \(weights.count) weights")
        let inFeatures = x.shape.last ?? 0
        let rows = x.value.count / max(inFeatures, 1)
        let blocks = weights.compactMap(\.quantized)
        let fused = weights.count > 1 && blocks.count == weights.count && rows >= 1 && !x.requiresGrad
            && biases.allSatisfy { $0?.requiresGrad != true }
            && weights.allSatisfy { weight in
                !weight.requiresGrad && weight.shape[1] == inFeatures
                    && rows <= QuantizedMatrix.rowsWorthBlocks(over: weight.value.dtype)
            }
        guard fused else { return zip(weights, biases).map { linear(x, $0, bias: $1) } }
        let outs = weights.map { weight in Tensor(uninitialized: Array(x.shape.dropLast()) + [weight.shape[0]]) }
        QuantizedMatrix.products(blocks, x.value.floats, inputRows: rows, into: outs.map(\.floats))
        return zip(outs, zip(weights, biases)).map { out, layer in
            if let bias = layer.1 { Self.addBias(bias.value, to: out, rows: rows) }
            return output(.linear, out, inputs: [x, layer.0, layer.1]) { _ in }  // nothing needs a gradient
        }
    }

    /// Adds `bias` (`[outFeatures]`, f32) to each of `rows` rows of `out` (`[..., outFeatures]`).
    private static func addBias(_ bias: Tensor, to out: Tensor, rows: Int) {
        precondition(bias.shape == [out.shape.last ?? 0], "linear: bias \(bias.shape) for output \(out.shape)")
        let y = out.floats, b = bias.floats, width = bias.count
        Parallel.forRows(rows, costPerRow: width) { r in
            let row = y + r * width
            for j in 0..<width { row[j] += b[j] }
        }
    }

    /// `c = op(a) · op(weight) + beta · c` for f32 activations `a` (`shape.m × shape.k`
    /// rows) and an f32 or bf16 weight: a bf16 weight runs on the backend's bf16 kernels,
    /// with `a` rounded to bf16 for the product — or `rounded`, when the caller has `a`
    /// rounded already.
    static func weightProduct(_ shape: GEMMShape, a: UnsafePointer<Float>, rounded: UnsafePointer<UInt16>? = nil,
                              weight: Tensor, beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        precondition(!shape.transA, "weightProduct: activations are [m, k] rows")
        if weight.dtype == .bf16, let rounded {
            GEMM.gemmBF16(shape, a: rounded, b: weight.halves, beta: beta, c: c)
        } else if weight.dtype == .bf16 {
            let count = shape.m * shape.k
            ScratchBuffer.with(byteCount: count * 2) { raw in
                let rounded = raw.assumingMemoryBound(to: UInt16.self)
                convertToBF16(a, rounded, count: count)
                GEMM.gemmBF16(shape, a: rounded, b: weight.halves, beta: beta, c: c)
            }
        } else {
            GEMM.sgemm(shape, a: a, b: weight.floats, beta: beta, c: c)
        }
    }
}
