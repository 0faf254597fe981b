import TrimtabModels
import TrimtabTensor

// (IA)³ around one frozen linear layer. Reference: peft `tuners/ia3/layer.py` (`Linear`).
//
//   output scaling      : y = (W x + b) ⊙ l      l = ia3_l [out, 1]
//   feed-forward scaling: y = W (x ⊙ l) + b      l = ia3_l [1, in]

/// One linear layer's learned scaling vector.
final class IA3Layer {
    let site: LinearSite
    /// `ia3_l`: `[out, 1]`, or `[1, in]` when ``isFeedforward``.
    let vector: Variable
    let isFeedforward: Bool
    /// The frozen base weight `[out, in]` and bias (for merging).
    let baseWeight: Variable
    let baseBias: Variable?

    init(site: LinearSite, vector: Variable, isFeedforward: Bool, baseWeight: Variable, baseBias: Variable?) {
        self.site = site
        self.vector = vector
        self.isFeedforward = isFeedforward
        self.baseWeight = baseWeight
        self.baseBias = baseBias
    }

    /// `ia3_l`'s shape for `site`.
    static func shape(_ site: LinearSite, feedforward: Bool) -> [Int] {
        feedforward ? [1, site.inFeatures] : [site.outFeatures, 1]
    }

    func input(_ x: Variable, tape: Tape) -> Variable {
        isFeedforward ? tape.mulColumns(x, vector) : x
    }

    func output(_ y: Variable, tape: Tape) -> Variable {
        isFeedforward ? y : tape.mulColumns(y, vector)
    }

    /// PEFT's merge: rows of `W` (and the bias) scaled for output scaling, columns of `W`
    /// for feed-forward scaling.
    func merged() -> (weight: Tensor, bias: Tensor?) {
        let weight = baseWeight.value, bias = baseBias?.value
        let w = weight.dtype == .f32 ? weight.copy() : weight.converted(to: .f32)
        let out = w.shape[0], inF = w.shape[1], l = vector.value.floats
        for o in 0..<out {
            let row = w.floats + o * inF
            if isFeedforward {
                for j in 0..<inF { row[j] *= l[j] }
            } else {
                for j in 0..<inF { row[j] *= l[o] }
            }
        }
        guard let bias else { return (w, nil) }
        let b = bias.dtype == .f32 ? bias.copy() : bias.converted(to: .f32)
        if !isFeedforward { for o in 0..<out { b.floats[o] *= l[o] } }
        return (w, b)
    }
}
