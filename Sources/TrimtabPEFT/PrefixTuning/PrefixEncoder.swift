import TrimtabTensor

/// Prefix tuning's encoder (PEFT's `PrefixEncoder`): the past key/value rows
/// `[P, L·2·C']` of every layer, `C' = token_dim`.
///
///   without projection: Embedding(P, L·2·C')                       (`embedding.weight`)
///   with projection:    Embedding(P, C') – Linear(C'→E) – tanh – Linear(E→L·2·C')
///                       (`embedding.weight`, `transform.0`, `transform.2`)
final class PrefixEncoder {
    /// `embedding.weight`: `[P, L·2·C']` without projection, `[P, C']` with.
    let embedding: Variable
    /// `transform.0` and `transform.2`, with projection.
    let transform: (first: (weight: Variable, bias: Variable), second: (weight: Variable, bias: Variable))?

    /// A fresh encoder (PyTorch's default initialisation, seeded; `init_weights: "zero"`
    /// zeroes the table, or the last linear layer), or the weights in `tensors`.
    init(configuration: PrefixTuningConfiguration, seed: UInt64, tensors: [String: Tensor]? = nil) throws {
        let s = configuration.settings
        let p = s.virtualTokens, c = s.tokenDim, width = (s.layers ?? 0) * 2 * c, e = configuration.encoderHiddenSize
        let zero = configuration.initWeights == "zero"
        var rng = SplitMix64(seed: seed)
        if configuration.prefixProjection {
            let table = try tensors.map { try PromptEncoder.take($0, "embedding.weight", [p, c]) }
                ?? Initializers.normal([p, c], rng: &rng)
            embedding = Variable(table, requiresGrad: true, name: "embedding.weight")
            if let tensors {
                func load(_ name: String, _ shape: [Int]) throws -> Variable {
                    Variable(try PromptEncoder.take(tensors, name, shape), requiresGrad: true, name: name)
                }
                transform = ((try load("transform.0.weight", [e, c]), try load("transform.0.bias", [e])),
                             (try load("transform.2.weight", [width, e]), try load("transform.2.bias", [width])))
            } else {
                let first = Initializers.linear("transform.0", in: c, out: e, rng: &rng)
                let second = Initializers.linear("transform.2", in: e, out: width, rng: &rng)
                if zero {
                    second.weight.value.fill(0)
                    second.bias.value.fill(0)
                }
                transform = (first, second)
            }
        } else {
            let table = try tensors.map { try PromptEncoder.take($0, "embedding.weight", [p, width]) }
                ?? (zero ? Tensor(zeros: [p, width]) : Initializers.normal([p, width], rng: &rng))
            embedding = Variable(table, requiresGrad: true, name: "embedding.weight")
            transform = nil
        }
    }

    /// A table used directly, trainable or fixed (a loaded adapter).
    init(table: Tensor, trainable: Bool) {
        embedding = Variable(table, requiresGrad: trainable, name: "embedding.weight")
        transform = nil
    }

    /// Every weight by its PyTorch state-dict name.
    var parameters: [String: Variable] {
        var all = [embedding]
        if let transform {
            all += [transform.first.weight, transform.first.bias, transform.second.weight, transform.second.bias]
        }
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name ?? "", $0) })
    }

    /// The key/value rows of every layer, `[P, L·2·C']`.
    func forward(tape: Tape) -> Variable {
        guard let transform else { return embedding }
        let hidden = tape.tanh(tape.linear(embedding, transform.first.weight, bias: transform.first.bias))
        return tape.linear(hidden, transform.second.weight, bias: transform.second.bias)
    }
}
