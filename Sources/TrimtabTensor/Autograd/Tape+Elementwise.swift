// Elementwise ops on the tape: add, addBias, mul, scale and reshape.
//
// Gradients (all accumulated):
//   y = a + b        : da += dy            db += dy   (dy itself becomes a first gradient)
//   y = x + bias     : dx += dy            dbias[c] += Σ_rows dy[r, c]
//   y = a ⊙ b        : da += dy ⊙ b        db += dy ⊙ a
//   y = x · s        : dx += dy · s
//   y = reshape(x)   : dx += dy (same elements, other shape; dy itself when dx is new)

extension Tape {
    /// `a + b` for two tensors of the same shape (residual connections).
    ///
    /// - Parameters:
    ///   - a, b: any shape, equal (f32).
    /// - Returns: the elementwise sum, same shape.
    public func add(_ a: Variable, _ b: Variable) -> Variable {
        precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
        let n = a.value.count
        let out = Tensor(uninitialized: a.shape)
        Elementwise.add(out: out.floats, a: a.value.floats, b: b.value.floats, count: n)
        return output(.add, out, inputs: [a, b], unread: [a, b]) { [unowned self] dout in
            // `dout` itself can become one input's gradient; the other gets a copy.
            if a.requiresGrad { self.passGradient(dout, to: a) }
            if b.requiresGrad {
                if a.requiresGrad { self.accumulateGradient(dout, into: b) } else { self.passGradient(dout, to: b) }
            }
        }
    }

    /// `x + bias`, the bias broadcast over every leading dimension.
    ///
    /// - Parameters:
    ///   - x: `[..., C]` (f32, rank ≥ 1).
    ///   - bias: `[C]`.
    /// - Returns: `[..., C]`.
    public func addBias(_ x: Variable, _ bias: Variable) -> Variable {
        precondition(x.value.rank >= 1 && bias.shape == [x.shape[x.value.rank - 1]],
                     "addBias: bias \(bias.shape) for input \(x.shape)")
        let C = bias.shape[0], n = x.value.count
        let rows = C == 0 ? 0 : n / C
        let out = Tensor(zeros: x.shape)
        Elementwise.addBias(out: out.floats, inp: x.value.floats, bias: bias.value.floats, rows: rows, C: C)
        return output(.addBias, out, inputs: [x, bias]) { dout in
            if x.requiresGrad { Elementwise.accumulate(dinp: x.gradBuffer().floats, dout: dout.floats, count: n) }
            if bias.requiresGrad {
                Elementwise.addBiasBackward(dbias: bias.gradBuffer().floats, dout: dout.floats, rows: rows, C: C)
            }
        }
    }

    /// `a ⊙ b` for two tensors of the same shape.
    ///
    /// - Parameters:
    ///   - a, b: any shape, equal (f32).
    /// - Returns: the elementwise product, same shape.
    public func mul(_ a: Variable, _ b: Variable) -> Variable {
        precondition(a.shape == b.shape, "mul: shapes \(a.shape) and \(b.shape) differ")
        let n = a.value.count
        let out = Tensor(zeros: a.shape)
        Elementwise.mul(out: out.floats, a: a.value.floats, b: b.value.floats, count: n)
        return output(.mul, out, inputs: [a, b]) { dout in
            if a.requiresGrad {
                Elementwise.mulBackward(dinp: a.gradBuffer().floats, dout: dout.floats, other: b.value.floats, count: n)
            }
            if b.requiresGrad {
                Elementwise.mulBackward(dinp: b.gradBuffer().floats, dout: dout.floats, other: a.value.floats, count: n)
            }
        }
    }

    /// `x · factor` for a constant `factor` (attention's 1/√d, LoRA's α/r).
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    /// - Returns: same shape.
    public func scale(_ x: Variable, by factor: Float) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        Elementwise.scale(out: out.floats, inp: x.value.floats, factor: factor, count: n)
        return output(.scale, out, inputs: [x], unread: [x]) { dout in
            Elementwise.scaleBackward(dinp: x.gradBuffer().floats, dout: dout.floats, factor: factor, count: n)
        }
    }

    /// A view of `x` with a new shape and the same element count (no copy: the result
    /// shares `x`'s storage). The gradient passes through unchanged.
    ///
    /// - Parameters:
    ///   - x: any shape.
    ///   - shape: the new shape; its product must equal `x`'s element count.
    public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == x.value.count,
                     "reshape: cannot view \(x.shape) (\(x.value.count) elements) as \(shape)")
        return output(.reshape, x.value.reshaped(shape), rounded: x.roundedBF16?.reshaped(shape), inputs: [x],
                      unread: [x]) { [unowned self] dout in
            self.passGradient(dout, to: x)
        }
    }
}
