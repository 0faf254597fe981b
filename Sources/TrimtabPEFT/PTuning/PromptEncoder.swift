import TrimtabTensor

/// P-tuning's prompt encoder (PEFT's `PromptEncoder`): `P` trainable input embeddings
/// `[P, C]` passed through an MLP or a bidirectional LSTM and an MLP; the output `[P, C]`
/// is the prompt.
///
///   MLP:  Linear(C→H) – ReLU – Linear(H→H) – ReLU – Linear(H→C)   (`mlp_head.0/.2/.4`)
///   LSTM: BiLSTM(C→H, encoder_num_layers) – Linear(2H→2H) – ReLU – Linear(2H→C)
///         (`lstm_head.*`, `mlp_head.0/.2`)
///
/// Parameters carry PyTorch's state-dict names, so a PEFT encoder's weights map 1:1.
final class PromptEncoder {
    let kind: PromptEncoderKind
    /// `embedding.weight` `[P, C]`.
    let embedding: Variable
    let lstm: BidirectionalLSTM?
    /// The linear layers of `mlp_head`, in order, with their module indices.
    let head: [(index: Int, weight: Variable, bias: Variable)]

    /// A fresh encoder (PyTorch's default initialisation, seeded), or the weights in
    /// `tensors` under their PyTorch names.
    ///
    /// - Throws: ``AdapterError/missingTensor(file:name:)`` or
    ///   ``AdapterError/shapeMismatch(file:tensor:expected:got:)`` for `tensors` that do
    ///   not fit `configuration`.
    init(configuration: PTuningConfiguration, seed: UInt64, tensors: [String: Tensor]? = nil) throws {
        let s = configuration.settings
        let p = s.virtualTokens * s.transformerSubmodules, c = s.tokenDim, h = configuration.encoderHiddenSize
        var rng = SplitMix64(seed: seed)
        kind = configuration.encoder
        let table = try tensors.map { try Self.take($0, "embedding.weight", [p, c]) }
            ?? Initializers.normal([p, c], rng: &rng)
        embedding = Variable(table, requiresGrad: true, name: "embedding.weight")
        let widths: [Int]
        switch configuration.encoder {
        case .mlp:
            lstm = nil
            widths = [c, h, h, c]
        case .lstm:
            lstm = try BidirectionalLSTM(prefix: "lstm_head", inputSize: c, hiddenSize: h,
                                         layerCount: configuration.encoderLayers, rng: &rng, tensors: tensors)
            widths = [2 * h, 2 * h, c]
        }
        var head: [(Int, Variable, Variable)] = []
        for layer in 0..<(widths.count - 1) {
            let name = "mlp_head.\(2 * layer)", inF = widths[layer], outF = widths[layer + 1]
            if let tensors {
                head.append((2 * layer,
                             Variable(try Self.take(tensors, "\(name).weight", [outF, inF]), requiresGrad: true,
                                      name: "\(name).weight"),
                             Variable(try Self.take(tensors, "\(name).bias", [outF]), requiresGrad: true,
                                      name: "\(name).bias")))
            } else {
                let (w, b) = Initializers.linear(name, in: inF, out: outF, rng: &rng)
                head.append((2 * layer, w, b))
            }
        }
        self.head = head
    }

    /// Every weight by its PyTorch state-dict name.
    var parameters: [String: Variable] {
        var all = [embedding] + head.flatMap { [$0.weight, $0.bias] }
        all += lstm?.parameters ?? []
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name ?? "", $0) })
    }

    /// The prompt `[P, C]`.
    ///
    /// - Parameters:
    ///   - dropout: the LSTM's inter-layer dropout (pass 0 outside training).
    func forward(tape: Tape, dropout: Float = 0, seed: UInt64 = 0) -> Variable {
        var x = embedding
        if let lstm { x = lstm.forward(x, tape: tape, dropout: dropout, seed: seed) }
        for (n, layer) in head.enumerated() {
            if n > 0 { x = tape.relu(x) }
            x = tape.linear(x, layer.weight, bias: layer.bias)
        }
        return x
    }

    /// `tensors[name]` as f32, which must have `shape`.
    static func take(_ tensors: [String: Tensor], _ name: String, _ shape: [Int]) throws -> Tensor {
        guard let t = tensors[name] else { throw AdapterError.missingTensor(file: "encoder weights", name: name) }
        guard t.shape == shape else {
            throw AdapterError.shapeMismatch(file: "encoder weights", tensor: name, expected: shape, got: t.shape)
        }
        return t.dtype == .f32 ? t : t.converted(to: .f32)
    }
}
