// Activations and dropout on the tape. The kernels (Kernels/Activations.swift,
// Kernels/Dropout.swift) carry the derivatives; backward closures keep only the inputs
// (σ, tanh and the dropout mask are recomputed, never stored).

extension Tape {
    /// `x · sigmoid(x)`.
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    /// - Returns: same shape.
    public func silu(_ x: Variable) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        SiLU.forward(out: out.floats, inp: x.value.floats, count: n)
        return output(.silu, out, inputs: [x]) { dout in
            SiLU.backward(dinp: x.gradBuffer().floats, dout: dout.floats, inp: x.value.floats, count: n)
        }
    }

    /// The Gaussian error linear unit `x Φ(x)`.
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    ///   - approximation: `.none` for the exact erf form (BERT, `nn.GELU()`), `.tanh` for
    ///     the tanh approximation (GPT-2, `gelu_pytorch_tanh`).
    /// - Returns: same shape.
    public func gelu(_ x: Variable, approximation: GELUApproximation = .none) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        GELU.forward(out: out.floats, inp: x.value.floats, count: n, approximation: approximation)
        return output(.gelu, out, inputs: [x]) { dout in
            GELU.backward(dinp: x.gradBuffer().floats, dout: dout.floats, inp: x.value.floats, count: n,
                          approximation: approximation)
        }
    }

    /// `silu(gate) ⊙ up`, the gated activation of the Llama MLP.
    ///
    /// - Parameters:
    ///   - gate: the gate projection's output, any shape (f32).
    ///   - up: the up projection's output, same shape.
    ///   - kept: the precision backward keeps `gate` and `up` in. `.bf16` keeps rounded
    ///     copies (half the memory; the f32 inputs are then not needed by backward and may
    ///     be released) and takes the gradients at the rounded values; the output is
    ///     computed from the f32 inputs either way.
    ///   - roundedCopy: also write the output rounded to bf16 (``Variable/roundedBF16``),
    ///     for a down projection over bf16 weights.
    /// - Returns: same shape.
    public func swiglu(gate: Variable, up: Variable, kept: DType = .f32, roundedCopy: Bool = false) -> Variable {
        precondition(gate.shape == up.shape, "swiglu: gate \(gate.shape) and up \(up.shape) differ")
        precondition(kept == .f32 || kept == .bf16, "swiglu: inputs cannot be kept as \(kept)")
        let n = gate.value.count
        let out = Tensor(uninitialized: gate.shape)
        // Rounded copies only when a backward will read them.
        let keptCopies = kept == .bf16 && needsGrad(gate, up)
            ? (gate: Tensor(uninitialized: gate.shape, dtype: .bf16), up: Tensor(uninitialized: up.shape, dtype: .bf16))
            : nil
        let rounded = roundedCopy ? Tensor(uninitialized: gate.shape, dtype: .bf16) : nil
        SwiGLU.forward(out: out.floats, rounded: rounded?.halves, gate: gate.value.floats, up: up.value.floats,
                       count: n, keeping: keptCopies.map { ($0.gate.halves, $0.up.halves) })
        return output(.swiglu, out, rounded: rounded, inputs: [gate, up], unread: keptCopies == nil ? [] : [gate, up]) { dout in
            let dgate = gate.requiresGrad ? gate.gradDestination() : nil
            let dup = up.requiresGrad ? up.gradDestination() : nil
            let accumulateGate = dgate?.accumulate ?? true, accumulateUp = dup?.accumulate ?? true
            if let keptCopies {
                SwiGLU.backwardBF16(dgate: dgate?.buffer.floats, dup: dup?.buffer.floats, dout: dout.floats,
                                    gate: keptCopies.gate.halves, up: keptCopies.up.halves, count: n,
                                    accumulateGate: accumulateGate, accumulateUp: accumulateUp)
            } else {
                SwiGLU.backward(dgate: dgate?.buffer.floats, dup: dup?.buffer.floats, dout: dout.floats,
                                gate: gate.value.floats, up: up.value.floats, count: n,
                                accumulateGate: accumulateGate, accumulateUp: accumulateUp)
            }
        }
    }

    /// Inverted dropout: keeps each element with probability `1 − p` and scales the kept
    /// ones by `1 / (1 − p)`, so the expected value is unchanged.
    ///
    /// The mask is a pure function of `seed` and the element index: element `i` is kept
    /// iff the `i`-th `nextFloat()` of `SplitMix64(seed: seed)` is ≥ `p`. The same seed
    /// gives the same mask, and backward recomputes it rather than storing it.
    ///
    /// Training versus evaluation is the caller's choice, not the tape's: dropout applies
    /// whenever `probability > 0`, also on a tape that is not recording (a finite-difference
    /// check or a zeroth-order optimizer like MeZO must see the same function the
    /// gradient is taken of). Pass `probability: 0` for evaluation; it returns `x` itself
    /// — no copy, no mask, no tape node.
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    ///   - probability: the drop probability `p`, `0 ≤ p < 1`.
    ///   - seed: fixes the mask; use a fresh seed per step and per call site.
    /// - Returns: same shape.
    public func dropout(_ x: Variable, probability: Float, seed: UInt64) -> Variable {
        precondition(probability >= 0 && probability < 1, "dropout: probability \(probability) is outside [0, 1)")
        if probability == 0 { return x }
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        Dropout.forward(out: out.floats, inp: x.value.floats, count: n, probability: probability, seed: seed)
        return output(.dropout, out, inputs: [x]) { dout in
            Dropout.backward(dinp: x.gradBuffer().floats, dout: dout.floats, count: n, probability: probability, seed: seed)
        }
    }
}
