import TrimtabModels
import TrimtabTensor

// LoRA and DoRA around one frozen linear layer.
// References: peft `tuners/lora/layer.py` (`Linear.forward`, `get_delta_weight`,
// `reset_lora_parameters`), `tuners/lora/dora.py` (`DoraLinearLayer`) and
// `tuners/lora/variants.py` (`DoraLinearVariant.forward`, `merge_safe`).
//
//   LoRA : y = W x + b + s · B A drop(x)
//   DoRA : k = m / ‖W + s B A‖_row  (the norm detached, as PEFT does: section 4.3 of the paper)
//          y = W x + b + (k − 1) ⊙ W x' + k ⊙ s · B A x'
//          with x' = drop(x) while training with dropout (PEFT recomputes W x' then), else
//          x' = x and W x' = y_base − b, so y = b + k ⊙ (W x + s B A x).
// Shapes: x [..., in], A [r, in], B [out, r], m [out], W [out, in].

/// One linear layer's LoRA (or DoRA) update.
final class LoRALayer {
    let site: LinearSite
    /// `lora_A.weight` `[r, in]`.
    let a: Variable
    /// `lora_B.weight` `[out, r]`.
    let b: Variable
    /// DoRA's `lora_magnitude_vector` `[out]`, or `nil` for plain LoRA.
    let magnitude: Variable?
    let scaling: Float
    /// The frozen base weight `[out, in]` (DoRA's norm, merging).
    let baseWeight: Variable
    /// The frozen base bias `[out]`, if the layer has one.
    let baseBias: Variable?

    init(site: LinearSite, a: Variable, b: Variable, magnitude: Variable?, scaling: Float,
         baseWeight: Variable, baseBias: Variable?) {
        self.site = site
        self.a = a
        self.b = b
        self.magnitude = magnitude
        self.scaling = scaling
        self.baseWeight = baseWeight
        self.baseBias = baseBias
    }

    var rank: Int { a.shape[0] }

    /// The output of the wrapped layer: `base` is `W x + bias` for `input` `x`, where
    /// `bias` is `currentBias` (the trainable copy under `bias = all / lora_only`).
    func forward(input x: Variable, base: Variable, currentBias: Variable?, dropout: Float, seed: UInt64,
                 tape: Tape) -> Variable {
        let xd = tape.dropout(x, probability: dropout, seed: seed)
        let update = tape.linear(tape.linear(xd, a), b)
        guard let magnitude else {
            return tape.add(base, tape.scale(update, by: scaling))
        }
        // DoRA. The row norms are constants for the tape.
        let inverseNorm = Tensor(zeros: [site.outFeatures])
        let norms = Self.rowNorms(weight: baseWeight.value, a: a.value, b: b.value, scaling: scaling)
        for i in 0..<norms.count { inverseNorm.floats[i] = 1 / norms[i] }
        let k = tape.mul(magnitude, Variable(inverseNorm))
        let baseResult: Variable
        if dropout > 0 {
            baseResult = tape.linear(xd, baseWeight)
        } else if let currentBias {
            baseResult = tape.addBias(base, tape.scale(currentBias, by: -1))
        } else {
            baseResult = base
        }
        let scaled = tape.mulColumns(tape.add(baseResult, tape.scale(update, by: scaling)), k)
        return tape.add(base, tape.add(scaled, tape.scale(baseResult, by: -1)))
    }

    /// `‖W + s · B A‖` over each output row, in Double (PEFT: `torch.linalg.norm(weight, dim=1)`).
    static func rowNorms(weight: Tensor, a: Tensor, b: Tensor, scaling: Float) -> [Float] {
        let merged = mergedWeight(weight: weight, a: a, b: b, scaling: scaling)
        let out = merged.shape[0], inF = merged.shape[1]
        return (0..<out).map { o in
            var sum = 0.0
            let row = merged.floats + o * inF
            for j in 0..<inF { sum += Double(row[j]) * Double(row[j]) }
            return Float(sum.squareRoot())
        }
    }

    /// `W + s · B A` in f32 `[out, in]`.
    static func mergedWeight(weight: Tensor, a: Tensor, b: Tensor, scaling: Float) -> Tensor {
        let out = b.shape[0], inF = a.shape[1], r = a.shape[0]
        let merged = weight.dtype == .f32 ? weight.copy() : weight.converted(to: .f32)
        precondition(merged.shape == [out, inF], "LoRA weight \(merged.shape) for update [\(out), \(inF)]")
        GEMM.sgemm(GEMMShape(m: out, n: inF, k: r), alpha: scaling, a: b.floats, b: a.floats, beta: 1, c: merged.floats)
        return merged
    }

    /// The folded weight PEFT's `merge` writes: `W + s B A`, or for DoRA
    /// `(m / ‖W + s B A‖_row) ⊙ (W + s B A)`. The bias is unchanged.
    func mergedWeight() -> Tensor {
        let merged = Self.mergedWeight(weight: baseWeight.value, a: a.value, b: b.value, scaling: scaling)
        guard let magnitude else { return merged }
        let norms = Self.rowNorms(weight: baseWeight.value, a: a.value, b: b.value, scaling: scaling)
        let inF = merged.shape[1]
        for o in 0..<norms.count {
            let factor = magnitude.value.floats[o] / norms[o]
            let row = merged.floats + o * inF
            for j in 0..<inF { row[j] *= factor }
        }
        return merged
    }
}
