// Activation kernels: SiLU, GELU (exact erf or tanh approximation) and SwiGLU.
//
// Forward/backward pairs over raw f32 buffers; backward ACCUMULATES into `dinp`. Each
// saves nothing: the backward recomputes σ (or erfc) from the input, which costs a few
// vector instructions and no memory. σ runs on a 16-lane Cephes exp (VectorMath below);
// the exact GELU calls libm's erfcf per element. SwiGLU, on every token of a Llama FFN,
// runs in C (CTrimtabKernels/activations.c: AVX-512 / AVX2 / portable) with the same
// formulas: Swift called its per-vector closure out of line.
//
// Derivatives (σ = sigmoid):
//   silu(x)      = x σ(x)                        silu'(x) = σ(x) (1 + x (1 − σ(x)))
//   gelu(x)      = x Φ(x) = ½ x erfc(−x/√2)      gelu'(x) = Φ(x) + x φ(x),  φ(x) = e^{−x²/2}/√(2π)
//   gelu_tanh(x) = ½ x (1 + tanh u) = x σ(2u),  u = √(2/π) (x + 0.044715 x³)
//                  gelu_tanh'(x) = σ(2u) + 2 x σ(2u) (1 − σ(2u)) √(2/π) (1 + 3·0.044715 x²)
//   swiglu(g, u) = silu(g) u:  dg = dout · u · silu'(g),  du = dout · silu(g)
//
// Tails: 1 − σ(z) is computed as e⁻ᶻ σ(z) and Φ(x) as ½ erfc(−x/√2) (= ½ (1 + erf(x/√2))),
// never as a difference of numbers near 1, so values and derivatives keep their relative
// precision where they are tiny (x ≪ 0).

import CTrimtabKernels
import Foundation

/// How ``Tape/gelu(_:approximation:)`` evaluates the Gaussian CDF: exactly with `erf`
/// (BERT, PyTorch's default `nn.GELU()`) or with the tanh approximation (GPT-2,
/// Gemma, Hugging Face's `gelu_pytorch_tanh` / `gelu_new`).
public enum GELUApproximation: String, Sendable, CaseIterable, Codable {
    /// `½ x (1 + erf(x/√2))`.
    case none
    /// `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    case tanh
}

/// `x · sigmoid(x)` (also called swish).
enum SiLU {
    /// `out = x σ(x)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
        Elementwise.map(out: out, inp, count: count) { x in x * VectorMath.sigmoid(x) }
    }

    /// `dinp += dout · σ(x) (1 + x (1 − σ(x)))`.
    ///
    /// - Parameters: `dinp`, `dout`, `inp`: `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int) {
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            Elementwise.vectors(range) { i, lanes in
                let x = Elementwise.load(inp + i, lanes: lanes)
                let dy = Elementwise.load(dout + i, lanes: lanes)
                let dx = Elementwise.load(dinp + i, lanes: lanes)
                let (s, oneMinusS) = VectorMath.sigmoidAndComplement(x)
                Elementwise.store(dx + dy * s * (1 + x * oneMinusS), dinp + i, lanes: lanes)
            }
        }
    }
}

/// The Gaussian error linear unit `x Φ(x)`, exact or tanh-approximated.
enum GELU {
    /// √(2/π)
    static let tanhScale: Float = 0.797_884_560_802_865_4
    static let tanhCubic: Float = 0.044715
    /// 1/√2
    static let invSqrt2: Float = 0.707_106_781_186_547_5
    /// 1/√(2π)
    static let invSqrt2Pi: Float = 0.398_942_280_401_432_7

    /// `out = gelu(x)`.
    ///
    /// - Parameters: `out`, `inp`: `[count]`.
    static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
                        approximation: GELUApproximation) {
        switch approximation {
        case .tanh:
            Elementwise.map(out: out, inp, count: count) { x in
                x * VectorMath.sigmoid(2 * tanhScale * (x + tanhCubic * x * x * x))
            }
        case .none:
            // erfc has no vector form here; libm's erfcf is accurate to a few ulp.
            Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
                for i in range {
                    let x = inp[i]
                    out[i] = 0.5 * x * erfc(-x * invSqrt2)
                }
            }
        }
    }

    /// `dinp += dout · gelu'(x)`.
    ///
    /// - Parameters: `dinp`, `dout`, `inp`: `[count]`.
    static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int, approximation: GELUApproximation) {
        switch approximation {
        case .tanh:
            Parallel.forChunks(count, grain: Elementwise.grain) { range in
                Elementwise.vectors(range) { i, lanes in
                    let x = Elementwise.load(inp + i, lanes: lanes)
                    let dy = Elementwise.load(dout + i, lanes: lanes)
                    let dx = Elementwise.load(dinp + i, lanes: lanes)
                    let x2 = x * x
                    let (s, oneMinusS) = VectorMath.sigmoidAndComplement(2 * tanhScale * (x + tanhCubic * x2 * x))
                    let du = tanhScale * (1 + 3 * tanhCubic * x2)
                    let grad = s + 2 * x * s * oneMinusS * du
                    Elementwise.store(dx + dy * grad, dinp + i, lanes: lanes)
                }
            }
        case .none:
            Parallel.forChunks(count, grain: Elementwise.grain / 4) { range in
                for i in range {
                    let x = inp[i]
                    let cdf = 0.5 * erfc(-x * invSqrt2)
                    let pdf = invSqrt2Pi * Foundation.exp(-0.5 * x * x)
                    dinp[i] += dout[i] * (cdf + x * pdf)
                }
            }
        }
    }
}

/// `silu(gate) ⊙ up`, the gated FFN activation of Llama-family models.
enum SwiGLU {
    /// `out = silu(gate) ⊙ up`; with `rounded`, also `out` rounded to bf16 there; with
    /// `keeping`, also `gate` and `up` rounded to bf16 into those two buffers (for
    /// ``backwardBF16``).
    ///
    /// - Parameters: `out`, `gate`, `up` (and the kept buffers): `[count]` (the FFN hidden
    ///   activations, e.g. `[B, T, hidden]` flattened).
    static func forward(out: UnsafeMutablePointer<Float>, rounded: UnsafeMutablePointer<UInt16>? = nil,
                        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
                        keeping kept: (gate: UnsafeMutablePointer<UInt16>, up: UnsafeMutablePointer<UInt16>)? = nil) {
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            let i = range.lowerBound
            let roundedChunk = rounded.map { $0 + i }
            if let kept {
                trimtab_swiglu_forward_keeping_bf16(out + i, roundedChunk, gate + i, up + i, kept.gate + i, kept.up + i,
                                                    range.count)
            } else {
                trimtab_swiglu_forward(out + i, roundedChunk, gate + i, up + i, range.count)
            }
        }
    }

    /// `dgate += dout · up · silu'(gate)` and `dup += dout · silu(gate)`; either
    /// gradient may be `nil` (a frozen input gets none).
    ///
    /// - Parameters:
    ///   - dgate, dup, dout, gate, up: `[count]`.
    ///   - accumulateGate, accumulateUp: false to overwrite that gradient instead.
    static func backward(dgate: UnsafeMutablePointer<Float>?, dup: UnsafeMutablePointer<Float>?,
                         dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
                         accumulateGate: Bool = true, accumulateUp: Bool = true) {
        if dgate == nil && dup == nil { return }
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            let i = range.lowerBound
            trimtab_swiglu_backward(dgate.map { $0 + i }, dup.map { $0 + i }, dout + i, gate + i, up + i, range.count,
                                    accumulateGate ? 1 : 0, accumulateUp ? 1 : 0)
        }
    }

    /// ``backward(dgate:dup:dout:gate:up:count:accumulateGate:accumulateUp:)`` from bf16
    /// `gate` and `up`.
    static func backwardBF16(dgate: UnsafeMutablePointer<Float>?, dup: UnsafeMutablePointer<Float>?,
                             dout: UnsafePointer<Float>, gate: UnsafePointer<UInt16>, up: UnsafePointer<UInt16>,
                             count: Int, accumulateGate: Bool = true, accumulateUp: Bool = true) {
        if dgate == nil && dup == nil { return }
        Parallel.forChunks(count, grain: Elementwise.grain) { range in
            let i = range.lowerBound
            trimtab_swiglu_backward_bf16(dgate.map { $0 + i }, dup.map { $0 + i }, dout + i, gate + i, up + i,
                                         range.count, accumulateGate ? 1 : 0, accumulateUp ? 1 : 0)
        }
    }
}

/// Vectorised transcendental functions for the activation kernels.
private enum VectorMath {
    /// `eˣ` over 16 lanes, Cephes `expf`: x = n ln 2 + r with |r| ≤ ½ ln 2, a degree-7
    /// polynomial for eʳ and 2ⁿ built in the exponent bits. Relative error ≤ 2 ulp for
    /// x in [−87.3, 88.3]; inputs outside are clamped (the result saturates near 0 or
    /// near Float.greatestFiniteMagnitude instead of underflowing to subnormals or
    /// overflowing).
    @inline(__always)
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // Clamp with masked replaces: `clamped`/`pointwiseMin` compile to per-lane loops
        // (10× slower here). A NaN compares false and stays NaN.
        var x = x
        let lower = SIMD16<Float>(repeating: -87.3), upper = SIMD16<Float>(repeating: 88.3)
        x.replace(with: lower, where: x .< lower)
        x.replace(with: upper, where: x .> upper)
        // Round x·log2(e) to the nearest integer with the 1.5·2²³ trick (no SSE4.1 needed).
        let magic: Float = 12_582_912
        let shifted = x * 1.442_695_040_888_963_4 + magic
        let n = shifted - magic
        let r = x - n * 0.693_359_375 - n * -2.121_944_400_546_905_8e-4
        var p: SIMD16<Float> = SIMD16(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        // The low bits of `shifted` hold n (two's complement); 2ⁿ = (n + 127) << 23.
        let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(SIMD16<Float>(repeating: magic),
                                                                                       to: SIMD16<Int32>.self)
        let pow2 = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD16<Float>.self)
        return p * pow2
    }

    /// `1 / (1 + e⁻ˣ)`.
    @inline(__always)
    static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        1 / (1 + exp(-x))
    }

    /// `(σ(x), 1 − σ(x))`, the complement computed as `e⁻ˣ σ(x)` so it stays accurate
    /// where σ(x) is close to 1.
    @inline(__always)
    static func sigmoidAndComplement(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let e = exp(-x)
        let s = 1 / (1 + e)
        return (s, e * s)
    }
}
