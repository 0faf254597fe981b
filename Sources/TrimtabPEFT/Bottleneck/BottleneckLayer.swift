import TrimtabTensor

/// One bottleneck adapter: `y = x + s · up(f(down(x)))`.
///
/// `down`: `[r, C]` weight and `[r]` bias; `up`: `[C, r]` and `[C]`; `f` the
/// configured non-linearity, `s` the scaling. Near-identity initialisation (Houlsby et
/// al.): the down projection as a fresh `nn.Linear` (U(±1/√C)), the up projection and
/// both biases zero, so a fresh adapter returns its input exactly.
final class BottleneckLayer {
    let downWeight: Variable  // [r, C]
    let downBias: Variable    // [r]
    let upWeight: Variable    // [C, r]
    let upBias: Variable      // [C]
    let nonLinearity: BottleneckConfiguration.NonLinearity
    let scaling: Float

    init(downWeight: Variable, downBias: Variable, upWeight: Variable, upBias: Variable,
         nonLinearity: BottleneckConfiguration.NonLinearity, scaling: Float) {
        self.downWeight = downWeight
        self.downBias = downBias
        self.upWeight = upWeight
        self.upBias = upBias
        self.nonLinearity = nonLinearity
        self.scaling = scaling
    }

    /// A fresh near-identity adapter of width `hidden` → `bottleneck` → `hidden`.
    static func fresh(hidden: Int, bottleneck: Int, nonLinearity: BottleneckConfiguration.NonLinearity, scaling: Float,
                      rng: inout SplitMix64) -> BottleneckLayer {
        let bound = 1 / Float(hidden).squareRoot()
        return BottleneckLayer(
            downWeight: Variable(Initializers.uniform([bottleneck, hidden], bound: bound, rng: &rng), requiresGrad: true),
            downBias: Variable(Tensor(zeros: [bottleneck]), requiresGrad: true),
            upWeight: Variable(Tensor(zeros: [hidden, bottleneck]), requiresGrad: true),
            upBias: Variable(Tensor(zeros: [hidden]), requiresGrad: true),
            nonLinearity: nonLinearity, scaling: scaling)
    }

    /// `x + s · up(f(down(x)))` for `x` `[..., C]`.
    func forward(_ x: Variable, tape: Tape) -> Variable {
        let h = tape.linear(x, downWeight, bias: downBias)
        let a: Variable
        switch nonLinearity {
        case .relu: a = tape.relu(h)
        case .gelu: a = tape.gelu(h)
        case .silu: a = tape.silu(h)
        case .tanh: a = tape.tanh(h)
        }
        var y = tape.linear(a, upWeight, bias: upBias)
        if scaling != 1 { y = tape.scale(y, by: scaling) }
        return tape.add(x, y)
    }

    /// The four tensors by their suffix (`adapter_down.weight`, …).
    var tensors: [(suffix: String, variable: Variable)] {
        [("adapter_down.weight", downWeight), ("adapter_down.bias", downBias),
         ("adapter_up.weight", upWeight), ("adapter_up.bias", upBias)]
    }
}
