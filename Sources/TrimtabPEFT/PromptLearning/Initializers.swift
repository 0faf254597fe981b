import TrimtabTensor

/// PyTorch's default initialisations, drawn from Trimtab's seeded generator (the
/// distributions match `torch.nn`; the samples do not).
enum Initializers {
    /// N(0, 1): `nn.Embedding`'s default.
    static func normal(_ shape: [Int], rng: inout SplitMix64) -> Tensor {
        let t = Tensor(zeros: shape)
        for i in 0..<t.count { t.floats[i] = rng.nextNormal() }
        return t
    }

    /// U(−bound, bound). `nn.Linear` uses bound = 1/√in_features for weight and bias
    /// (Kaiming-uniform with a = √5), `nn.LSTM` bound = 1/√hidden_size for every tensor.
    static func uniform(_ shape: [Int], bound: Float, rng: inout SplitMix64) -> Tensor {
        let t = Tensor(zeros: shape)
        for i in 0..<t.count { t.floats[i] = (rng.nextFloat() * 2 - 1) * bound }
        return t
    }

    /// A trainable `nn.Linear(inFeatures, outFeatures)`: weight `[out, in]` and bias `[out]`.
    static func linear(_ name: String, in inFeatures: Int, out outFeatures: Int,
                       rng: inout SplitMix64) -> (weight: Variable, bias: Variable) {
        let bound = 1 / Float(inFeatures).squareRoot()
        return (Variable(uniform([outFeatures, inFeatures], bound: bound, rng: &rng), requiresGrad: true,
                         name: "\(name).weight"),
                Variable(uniform([outFeatures], bound: bound, rng: &rng), requiresGrad: true, name: "\(name).bias"))
    }
}
