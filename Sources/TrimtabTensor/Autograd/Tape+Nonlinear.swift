// ReLU, tanh and sigmoid on the tape (the PEFT prompt encoders: P-tuning's MLP and LSTM,
// prefix tuning's projection). The kernels (Kernels/Nonlinear.swift) carry the
// derivatives; ReLU's backward keeps the input, tanh's and sigmoid's keep the output.

extension Tape {
    /// `max(x, 0)`; the gradient at 0 is 0 (as PyTorch).
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    /// - Returns: same shape.
    public func relu(_ x: Variable) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        ReLU.forward(out: out.floats, inp: x.value.floats, count: n)
        return output(.relu, out, inputs: [x]) { dout in
            ReLU.backward(dinp: x.gradBuffer().floats, dout: dout.floats, inp: x.value.floats, count: n)
        }
    }

    /// The hyperbolic tangent.
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    /// - Returns: same shape, in (−1, 1).
    public func tanh(_ x: Variable) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        Tanh.forward(out: out.floats, inp: x.value.floats, count: n)
        return output(.tanh, out, inputs: [x]) { dout in
            Tanh.backward(dinp: x.gradBuffer().floats, dout: dout.floats, out: out.floats, count: n)
        }
    }

    /// The logistic function `1 / (1 + e⁻ˣ)`.
    ///
    /// - Parameters:
    ///   - x: any shape (f32).
    /// - Returns: same shape, in (0, 1).
    public func sigmoid(_ x: Variable) -> Variable {
        let n = x.value.count
        let out = Tensor(zeros: x.shape)
        Sigmoid.forward(out: out.floats, inp: x.value.floats, count: n)
        return output(.sigmoid, out, inputs: [x]) { dout in
            Sigmoid.backward(dinp: x.gradBuffer().floats, dout: dout.floats, out: out.floats, count: n)
        }
    }
}
