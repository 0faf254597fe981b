// Position and attention ops on the tape: `rope` and `attention`.
// Kernels and their math: Kernels/RoPE.swift, Kernels/Attention*.swift.

/// What an ``Tape/attention(query:key:value:options:)`` call attends to besides its keys,
/// and how.
public struct AttentionOptions {
    /// Query `t` sees keys `j ≤ t + (S − T)` only (with S = T: itself and earlier tokens).
    public var causal: Bool = true
    /// One entry per key, `[B, S]` row-major (B·S entries): 1 = may be attended to,
    /// 0 = padding. `nil`: every key is valid.
    public var keyMask: [UInt8]? = nil
    /// Extra key rows every query of a batch row attends to, placed before the keys
    /// (prefix tuning, P-tuning v2, a cached prefix). `[Bp, P, Hkv, D]` with Bp = B or
    /// Bp = 1 (one prefix broadcast to every row; its gradient is summed over the batch).
    /// Never rotated, never masked causally. Requires ``prefixValue`` of the same shape.
    public var prefixKey: Variable? = nil
    /// The value rows of the prefix, `[Bp, P, Hkv, D]`.
    public var prefixValue: Variable? = nil
    /// One entry per batch row and prefix row, `[B, P]` row-major (B·P entries, also when
    /// Bp = 1): 1 = valid, 0 = ignored. Lets rows of one batch carry prefixes of different
    /// lengths (or none). `nil`: every prefix row is valid.
    public var prefixMask: [UInt8]? = nil
    /// The factor on `q·k`; `nil` means `1/√D`.
    public var scale: Float? = nil

    public init(causal: Bool = true, keyMask: [UInt8]? = nil, prefixKey: Variable? = nil,
                prefixValue: Variable? = nil, prefixMask: [UInt8]? = nil, scale: Float? = nil) {
        self.causal = causal
        self.keyMask = keyMask
        self.prefixKey = prefixKey
        self.prefixValue = prefixValue
        self.prefixMask = prefixMask
        self.scale = scale
    }
}

extension Tape {
    /// Rotary position embeddings.
    ///
    /// - Parameters:
    ///   - x: `[B, T, H, D]` with `D == table.headDim`.
    ///   - table: the precomputed angles.
    ///   - positions: the position of each token, `[B, T]` row-major (B·T entries, each in
    ///     `0..<table.maxPositions`), so left-padded rows and KV-cache decoding steps use
    ///     their own positions.
    ///   - layout: which dimensions pair up.
    /// - Returns: `[B, T, H, D]`, each head's first `table.rotaryDim` dimensions rotated.
    ///   Backward applies the inverse rotation.
    public func rope(_ x: Variable, table: RoPETable, positions: [Int32], layout: RoPELayout) -> Variable {
        precondition(x.value.rank == 4 && x.shape[3] == table.headDim,
                     "rope: input \(x.shape) for a table of head dimension \(table.headDim)")
        let tokens = x.shape[0] * x.shape[1], heads = x.shape[2]
        precondition(positions.count == tokens, "rope: \(positions.count) positions for \(tokens) tokens")
        precondition(positions.allSatisfy { $0 >= 0 && Int($0) < table.maxPositions },
                     "rope: a position is outside the table's 0..<\(table.maxPositions)")
        let out = Tensor(uninitialized: x.shape)  // rotated and passed-through dimensions alike
        positions.withUnsafeBufferPointer { pos in
            guard let pos = pos.baseAddress else { return }
            table.forward(out: out.floats, x: x.value.floats, positions: pos, tokens: tokens, heads: heads,
                          layout: layout)
        }
        return output(.rope, out, inputs: [x], unread: [x]) { dout in
            guard x.requiresGrad else { return }
            let (dx, accumulate) = x.gradDestination()
            positions.withUnsafeBufferPointer { pos in
                guard let pos = pos.baseAddress else { return }
                table.backward(dx: dx.floats, dout: dout.floats, positions: pos, tokens: tokens, heads: heads,
                               layout: layout, accumulate: accumulate)
            }
        }
    }

    /// Multi-head scaled dot-product attention with grouped-query heads, an optional
    /// causal mask, key padding mask and prefix key/value rows.
    ///
    /// Forward saves only the per-row log-sum-exp (`[B, Hq, T]`); backward recomputes the
    /// attention probabilities from it (see Kernels/Attention.swift for why).
    ///
    /// - Parameters:
    ///   - query: `[B, T, Hq, D]`.
    ///   - key: `[B, S, Hkv, D]`, with Hq a multiple of Hkv (GQA: query head `h` uses kv
    ///     head `h / (Hq / Hkv)`).
    ///   - value: `[B, S, Hkv, D]`.
    ///   - options: causality, masks, prefix rows, scale. When causal, S ≥ T and query `t`
    ///     sits at key position `t + (S − T)`, so a KV-cache decoding step (T = 1) sees
    ///     all S keys.
    /// - Returns: `[B, T, Hq, D]`. A query row with no valid key (and no valid prefix row)
    ///   outputs zeros and passes no gradient.
    public func attention(query: Variable, key: Variable, value: Variable,
                          options: AttentionOptions = AttentionOptions()) -> Variable {
        precondition(query.value.rank == 4 && key.value.rank == 4 && key.shape == value.shape,
                     "attention: query \(query.shape), key \(key.shape), value \(value.shape)")
        let (b, t, hq, d) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
        let (s, hkv) = (key.shape[1], key.shape[2])
        precondition(key.shape[0] == b && key.shape[3] == d && hkv > 0 && hq % hkv == 0,
                     "attention: query \(query.shape) and key \(key.shape) disagree (Hq must be a multiple of Hkv)")
        precondition(!options.causal || s >= t, "attention: causal needs at least as many keys (\(s)) as queries (\(t))")
        var geometry = AttentionGeometry(batch: b, queries: t, keys: s, queryHeads: hq, kvHeads: hkv, headDim: d,
                                         causal: options.causal, scale: options.scale ?? 1 / Float(d).squareRoot())
        if let mask = options.keyMask {
            precondition(mask.count == b * s, "attention: keyMask has \(mask.count) entries for \(b)×\(s) keys")
        }
        let prefixKey = options.prefixKey, prefixValue = options.prefixValue
        precondition((prefixKey == nil) == (prefixValue == nil), "attention: prefixKey and prefixValue go together")
        if let prefixKey, let prefixValue {
            let shape = prefixKey.shape
            precondition(shape.count == 4 && prefixValue.shape == shape && (shape[0] == b || shape[0] == 1)
                         && shape[2] == hkv && shape[3] == d,
                         "attention: prefix \(shape) / \(prefixValue.shape) for key \(key.shape)")
            geometry.prefix = shape[1]
            geometry.prefixBatch = shape[0]
        }
        if let mask = options.prefixMask {
            precondition(mask.count == b * geometry.prefix,
                         "attention: prefixMask has \(mask.count) entries for \(b)×\(geometry.prefix) prefix rows")
        }

        let out = Tensor(uninitialized: query.shape)  // the kernels write every row
        let logSumExp = Tensor(uninitialized: [b, hq, t])
        let keyMask = options.keyMask, prefixMask = options.prefixMask
        withOperands(query, key, value, prefixKey, prefixValue, keyMask, prefixMask) { operands in
            AttentionKernel.forward(out: out.floats, logSumExp: logSumExp.floats, operands, geometry)
        }
        return output(.attention, out, inputs: [query, key, value, prefixKey, prefixValue]) { dout in
            func gradient(_ v: Variable?) -> UnsafeMutablePointer<Float>? {
                guard let v, v.requiresGrad else { return nil }
                return v.gradBuffer().floats
            }
            let grads = AttentionGradients(query: gradient(query), key: gradient(key), value: gradient(value),
                                           prefixKey: gradient(prefixKey), prefixValue: gradient(prefixValue))
            withOperands(query, key, value, prefixKey, prefixValue, keyMask, prefixMask) { operands in
                AttentionKernel.backward(grads, dout: dout.floats, out: out.floats, logSumExp: logSumExp.floats,
                                         operands, geometry)
            }
        }
    }
}

/// Calls `body` with raw pointers to the operands of an attention call.
private func withOperands(_ query: Variable, _ key: Variable, _ value: Variable,
                          _ prefixKey: Variable?, _ prefixValue: Variable?,
                          _ keyMask: [UInt8]?, _ prefixMask: [UInt8]?,
                          _ body: (AttentionOperands) -> Void) {
    withOptionalBytes(keyMask) { keyMask in
        withOptionalBytes(prefixMask) { prefixMask in
            body(AttentionOperands(query: query.value.floats, key: key.value.floats, value: value.value.floats,
                                   prefixKey: prefixKey.map { UnsafePointer($0.value.floats) },
                                   prefixValue: prefixValue.map { UnsafePointer($0.value.floats) },
                                   keyMask: keyMask, prefixMask: prefixMask))
        }
    }
}

private func withOptionalBytes(_ bytes: [UInt8]?, _ body: (UnsafePointer<UInt8>?) -> Void) {
    guard let bytes else { return body(nil) }
    bytes.withUnsafeBufferPointer { body($0.baseAddress) }
}
