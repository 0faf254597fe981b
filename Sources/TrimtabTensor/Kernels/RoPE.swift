import Foundation

// Rotary position embeddings (Su et al. 2021, "RoFormer", https://arxiv.org/abs/2104.09864).
// Reference: transformers/models/llama/modeling_llama.py (`LlamaRotaryEmbedding`,
// `rotate_half`, `apply_rotary_pos_emb`); the interleaved layout is Meta's original
// `apply_rotary_emb` (`torch.view_as_complex` over adjacent pairs), GPT-J and llama.cpp.
//
// Each pair (x₁, x₂) of a head's first `rotaryDim` dimensions turns by the angle
// θᵢ(pos) = pos · baseˆ(−2i / rotaryDim):
//   y₁ = x₁ cos θ − x₂ sin θ
//   y₂ = x₂ cos θ + x₁ sin θ
// The rotation is orthogonal, so its Jacobian's transpose is the inverse rotation (θ → −θ):
//   dx₁ += dy₁ cos θ + dy₂ sin θ
//   dx₂ += dy₂ cos θ − dy₁ sin θ
// Dimensions past `rotaryDim` pass through unchanged (partial rotary).

/// Which dimensions of a head form the pairs that rotate together.
public enum RoPELayout: Sendable {
    /// Pairs `(i, i + rotaryDim/2)`: Hugging Face Llama, Mistral, Qwen2, GPT-NeoX (`rotate_half`).
    case rotateHalf
    /// Pairs `(2i, 2i + 1)`: Meta's original Llama code, GPT-J, llama.cpp's `rope` (normal mode).
    case interleaved
}

/// Precomputed cos/sin of the rotary angles for positions `0..<maxPositions`.
///
/// Angles are computed the way Hugging Face computes them, in f32 (`inv_freq` in f32, then
/// `position · inv_freq` rounded to f32, then cos/sin of that), so long positions round as
/// they do in `transformers`.
public struct RoPETable: Sendable {
    /// Dimensions per attention head.
    public let headDim: Int
    /// Dimensions that rotate (the first `rotaryDim` of each head); the rest pass through.
    public let rotaryDim: Int
    /// Positions the table covers (`0..<maxPositions`).
    public let maxPositions: Int
    /// `inverseFrequencies[i]` is the angle per position of pair `i` (`rotaryDim / 2` entries).
    public let inverseFrequencies: [Float]
    /// cos θᵢ(pos), `[maxPositions, rotaryDim / 2]`.
    let cosines: [Float]
    /// sin θᵢ(pos), `[maxPositions, rotaryDim / 2]`.
    let sines: [Float]

    /// The standard table: `inv_freq[i] = base^(−2i / rotaryDim)`.
    ///
    /// - Parameters:
    ///   - headDim: dimensions per head.
    ///   - rotaryDim: how many leading dimensions rotate (even, at most `headDim`); `nil`
    ///     rotates the whole head. HF's `partial_rotary_factor` gives `headDim · factor`.
    ///   - base: `rope_theta` (10 000 for Llama 2, 500 000 for Llama 3).
    ///   - maxPositions: positions the table covers.
    public init(headDim: Int, rotaryDim: Int? = nil, base: Float, maxPositions: Int) {
        let rotary = rotaryDim ?? headDim
        precondition(base > 0, "RoPE base \(base) must be positive")
        let inverse = (0..<rotary / 2).map { i -> Float in
            let exponent = Float(2 * i) / Float(rotary)
            return 1 / Float(Foundation.pow(Double(base), Double(exponent)))
        }
        self.init(headDim: headDim, rotaryDim: rotary, inverseFrequencies: inverse, maxPositions: maxPositions)
    }

    /// A table from explicit inverse frequencies, for scaled variants (Llama 3's
    /// `rope_type: "llama3"`, linear or dynamic NTK scaling) that reshape `inv_freq`.
    ///
    /// - Parameter inverseFrequencies: `rotaryDim / 2` angles per position.
    public init(headDim: Int, rotaryDim: Int? = nil, inverseFrequencies: [Float], maxPositions: Int) {
        let rotary = rotaryDim ?? headDim
        precondition(headDim > 0 && rotary > 0 && rotary <= headDim && rotary % 2 == 0,
                     "RoPE rotaryDim \(rotary) must be even and in 1...headDim (\(headDim))")
        precondition(inverseFrequencies.count == rotary / 2,
                     "RoPE needs \(rotary / 2) inverse frequencies, got \(inverseFrequencies.count)")
        precondition(maxPositions >= 0, "RoPE maxPositions \(maxPositions)")
        self.headDim = headDim
        self.rotaryDim = rotary
        self.maxPositions = maxPositions
        self.inverseFrequencies = inverseFrequencies
        let half = rotary / 2
        var cosines = [Float](repeating: 0, count: maxPositions * half)
        var sines = [Float](repeating: 0, count: maxPositions * half)
        for pos in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(Float(pos) * inverseFrequencies[i])
                cosines[pos * half + i] = Float(Foundation.cos(angle))
                sines[pos * half + i] = Float(Foundation.sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }
}

// MARK: - Kernels

extension RoPETable {
    /// Rotates every head of every token by its token's position.
    ///
    /// - Parameters:
    ///   - out: `[tokens, heads, headDim]`, overwritten.
    ///   - x: `[tokens, heads, headDim]`.
    ///   - positions: `[tokens]`, each in `0..<maxPositions`.
    func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, positions: UnsafePointer<Int32>,
                 tokens: Int, heads: Int, layout: RoPELayout) {
        apply(out, x, positions, tokens: tokens, heads: heads, layout: layout, sign: 1, accumulate: false)
    }

    /// The gradient of ``forward``: the inverse rotation of `dout`, accumulated into `dx`
    /// (or, with `accumulate` false, written over it).
    ///
    /// - Parameters:
    ///   - dx: `[tokens, heads, headDim]`, accumulated into (`+=`).
    ///   - dout: `[tokens, heads, headDim]`.
    func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, positions: UnsafePointer<Int32>,
                  tokens: Int, heads: Int, layout: RoPELayout, accumulate: Bool = true) {
        apply(dx, dout, positions, tokens: tokens, heads: heads, layout: layout, sign: -1, accumulate: accumulate)
    }

    /// `dst (=|+=) R(sign · θ) src` per head; `sign = −1` is the inverse rotation.
    private func apply(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>,
                       _ positions: UnsafePointer<Int32>, tokens: Int, heads: Int, layout: RoPELayout,
                       sign: Float, accumulate: Bool) {
        let d = headDim, half = rotaryDim / 2, rotary = rotaryDim
        cosines.withUnsafeBufferPointer { cosBuffer in
            sines.withUnsafeBufferPointer { sinBuffer in
                guard let cosBase = cosBuffer.baseAddress, let sinBase = sinBuffer.baseAddress else { return }
                Parallel.forRows(tokens, costPerRow: heads * d * 4) { token in
                    let pos = Int(positions[token])
                    let c = cosBase + pos * half, s = sinBase + pos * half
                    for h in 0..<heads {
                        let row = (token * heads + h) * d
                        let y = dst + row, x = src + row
                        switch layout {
                        case .rotateHalf:
                            for i in 0..<half {
                                let x1 = x[i], x2 = x[i + half], ci = c[i], si = sign * s[i]
                                let y1 = x1 * ci - x2 * si, y2 = x2 * ci + x1 * si
                                if accumulate { y[i] += y1; y[i + half] += y2 } else { y[i] = y1; y[i + half] = y2 }
                            }
                        case .interleaved:
                            for i in 0..<half {
                                let x1 = x[2 * i], x2 = x[2 * i + 1], ci = c[i], si = sign * s[i]
                                let y1 = x1 * ci - x2 * si, y2 = x2 * ci + x1 * si
                                if accumulate { y[2 * i] += y1; y[2 * i + 1] += y2 } else { y[2 * i] = y1; y[2 * i + 1] = y2 }
                            }
                        }
                        for i in rotary..<d {
                            if accumulate { y[i] += x[i] } else { y[i] = x[i] }
                        }
                    }
                }
            }
        }
    }
}
