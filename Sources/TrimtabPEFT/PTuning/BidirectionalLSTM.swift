import TrimtabTensor

/// A bidirectional multi-layer LSTM over one sequence, as `torch.nn.LSTM(input_size,
/// hidden_size, num_layers, dropout, bidirectional=True, batch_first=True)` (batch 1).
///
/// Per direction and step, with gates in PyTorch's order (i, f, g, o):
///   z = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh          `[4H]`
///   i, f, o = σ(z_i), σ(z_f), σ(z_o);   g = tanh(z_g)
///   c_t = f ⊙ c_{t−1} + i ⊙ g;          h_t = o ⊙ tanh(c_t)      (h_{−1} = c_{−1} = 0)
/// The reverse direction runs t = T−1 … 0; a layer's output at t is [h_t^fwd, h_t^rev]
/// `[2H]`, and dropout (training only) applies to every layer's output but the last.
///
/// Everything runs as ordinary tape ops; rows are picked out of `[T, 4H]` and `[4, H]`
/// tensors with the embedding gather (a row gather with a scatter-add backward).
final class BidirectionalLSTM {
    /// Weights of one direction of one layer, named as in PyTorch's state dict.
    struct Direction {
        let inputWeight: Variable   // weight_ih_l{k}[_reverse]  [4H, in]
        let hiddenWeight: Variable  // weight_hh_l{k}[_reverse]  [4H, H]
        let inputBias: Variable     // bias_ih_l{k}[_reverse]    [4H]
        let hiddenBias: Variable    // bias_hh_l{k}[_reverse]    [4H]
    }

    let inputSize: Int
    let hiddenSize: Int
    /// `layers[k] = (forward, reverse)`.
    let layers: [(forward: Direction, reverse: Direction)]

    /// PyTorch's state-dict names for layer `k`, direction `reverse`.
    static func names(prefix: String, layer k: Int, reverse: Bool) -> [String] {
        let suffix = "_l\(k)" + (reverse ? "_reverse" : "")
        return ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map { "\(prefix).\($0)\(suffix)" }
    }

    /// Weights from `tensors` (by PyTorch name under `prefix`), or fresh ones drawn from
    /// U(−1/√H, 1/√H) as `nn.LSTM` initialises them.
    init(prefix: String, inputSize: Int, hiddenSize: Int, layerCount: Int, rng: inout SplitMix64,
         tensors: [String: Tensor]? = nil) throws {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let bound = 1 / Float(hiddenSize).squareRoot()
        var layers: [(Direction, Direction)] = []
        for k in 0..<layerCount {
            let inWidth = k == 0 ? inputSize : 2 * hiddenSize
            var pair: [Direction] = []
            for reverse in [false, true] {
                let names = Self.names(prefix: prefix, layer: k, reverse: reverse)
                let shapes = [[4 * hiddenSize, inWidth], [4 * hiddenSize, hiddenSize], [4 * hiddenSize], [4 * hiddenSize]]
                var vars: [Variable] = []
                for (name, shape) in zip(names, shapes) {
                    let value: Tensor
                    if let tensors {
                        value = try PromptEncoder.take(tensors, name, shape)
                    } else {
                        value = Initializers.uniform(shape, bound: bound, rng: &rng)
                    }
                    vars.append(Variable(value, requiresGrad: true, name: name))
                }
                pair.append(Direction(inputWeight: vars[0], hiddenWeight: vars[1], inputBias: vars[2], hiddenBias: vars[3]))
            }
            layers.append((pair[0], pair[1]))
        }
        self.layers = layers
    }

    /// Every weight by its PyTorch name.
    var parameters: [Variable] {
        layers.flatMap { [$0.forward, $0.reverse] }
            .flatMap { [$0.inputWeight, $0.hiddenWeight, $0.inputBias, $0.hiddenBias] }
    }

    /// - Parameters:
    ///   - x: `[T, inputSize]`.
    ///   - dropout: probability between layers (0 when not training).
    /// - Returns: `[T, 2H]`, the last layer's outputs.
    func forward(_ x: Variable, tape: Tape, dropout: Float, seed: UInt64) -> Variable {
        let steps = x.shape[0]
        var input = x
        for (k, layer) in layers.enumerated() {
            if k > 0 { input = tape.dropout(input, probability: dropout, seed: seed &+ UInt64(k)) }
            let forward = run(layer.forward, input, tape: tape, reverse: false)
            let reverse = run(layer.reverse, input, tape: tape, reverse: true)
            // [1, 2T, H] in the order (fwd 0, rev 0, fwd 1, rev 1, …) is [T, 2H] row-major.
            var parts: [Variable] = []
            for t in 0..<steps { parts += [forward[t], reverse[t]] }
            input = tape.reshape(tape.concatSequence(parts), [steps, 2 * hiddenSize])
        }
        return input
    }

    /// One direction over the sequence; returns `h_t` as `[1, 1, H]` for every t.
    private func run(_ d: Direction, _ x: Variable, tape: Tape, reverse: Bool) -> [Variable] {
        let steps = x.shape[0], h = hiddenSize
        // Input projections of every step at once: [T, 4H].
        let projected = tape.addBias(tape.linear(x, d.inputWeight, bias: d.inputBias), d.hiddenBias)
        var hidden: Variable? = nil
        var cell: Variable? = nil
        var outputs = [Variable?](repeating: nil, count: steps)
        for t in reverse ? Array((0..<steps).reversed()) : Array(0..<steps) {
            var z = tape.embedding(projected, ids: [Int32(t)], shape: [1])       // [1, 4H]
            if let hidden { z = tape.add(z, tape.linear(hidden, d.hiddenWeight)) }
            let gates = tape.reshape(tape.sigmoid(z), [4, h])
            let candidates = tape.reshape(tape.tanh(z), [4, h])
            let i = tape.embedding(gates, ids: [0], shape: [1])                 // [1, H]
            let f = tape.embedding(gates, ids: [1], shape: [1])
            let g = tape.embedding(candidates, ids: [2], shape: [1])
            let o = tape.embedding(gates, ids: [3], shape: [1])
            let update = tape.mul(i, g)
            let c = cell.map { tape.add(tape.mul(f, $0), update) } ?? update
            let next = tape.mul(o, tape.tanh(c))
            cell = c
            hidden = next
            outputs[t] = tape.reshape(next, [1, 1, h])
        }
        return outputs.compactMap { $0 }
    }
}
