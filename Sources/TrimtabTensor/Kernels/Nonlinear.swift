// Pointwise nonlinearities of the PEFT encoders: ReLU (P-tuning's MLP), tanh (prefix
// projection, LSTM cell) and sigmoid (LSTM gates).
//
// Forward/backward pairs over raw f32 buffers; backward ACCUMULATES into `dinp`. tanh and
// sigmoid differentiate through their output `y`, as PyTorch's `tanh_backward` and
// `sigmoid_backward` do, so the backward reads the stored output, not the input:
//   relu(x)    = max(x, 0)            drelu    = dy · [x > 0]   (0 at x = 0, as PyTorch)
//   tanh(x)    = y                    dtanh    = dy · (1 − y²)
//   sigmoid(x) = y = 1 / (1 + e⁻ˣ)    dsigmoid = dy · y (1 − y)
// tanh and sigmoid run on libm per element (these encoders are a few thousand elements;
// libm keeps full relative precision near 0 and in the tails).

import Foundation

/// `max(x, 0)`.
enum ReLU {
    /// `out = max(inp, 0)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
        Elementwise.map(out: out, inp, count: count) { x in x.replacing(with: 0, where: x .< 0) }
    }

    /// `dinp += dout · [inp > 0]`.
    ///
    /// - Parameters: `dinp`, `dout`, `inp`: `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            Elementwise.vectors(range) { i, lanes in
                let x = Elementwise.load(inp + i, lanes: lanes)
                let dy = Elementwise.load(dout + i, lanes: lanes).replacing(with: 0, where: x .<= 0)
                Elementwise.store(Elementwise.load(dinp + i, lanes: lanes) + dy, dinp + i, lanes: lanes)
            }
        }
    }
}

/// The hyperbolic tangent.
enum Tanh {
    /// `out = tanh(inp)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
            for i in range { out[i] = Foundation.tanh(inp[i]) }
        }
    }

    /// `dinp += dout · (1 − out²)`.
    ///
    /// - Parameters: `dinp`, `dout`, `out` (the forward's output): `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
                         count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            Elementwise.vectors(range) { i, lanes in
                let y = Elementwise.load(out + i, lanes: lanes)
                let dy = Elementwise.load(dout + i, lanes: lanes)
                Elementwise.store(Elementwise.load(dinp + i, lanes: lanes) + dy * (1 - y * y), dinp + i, lanes: lanes)
            }
        }
    }
}

/// The logistic function `1 / (1 + e⁻ˣ)`.
enum Sigmoid {
    /// `out = σ(inp)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
            for i in range {
                // e^{−|x|} never overflows; σ(x) = 1 − σ(−x) for x < 0 keeps the tail's precision.
                let x = inp[i]
                let e = Foundation.exp(-abs(x))
                out[i] = x >= 0 ? 1 / (1 + e) : e / (1 + e)
            }
        }
    }

    /// `dinp += dout · out (1 − out)`.
    ///
    /// - Parameters: `dinp`, `dout`, `out` (the forward's output): `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>,
                         count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            Elementwise.vectors(range) { i, lanes in
                let y = Elementwise.load(out + i, lanes: lanes)
                let dy = Elementwise.load(dout + i, lanes: lanes)
                Elementwise.store(Elementwise.load(dinp + i, lanes: lanes) + dy * y * (1 - y), dinp + i, lanes: lanes)
            }
        }
    }
}
