import Foundation
import TrimtabIO
import TrimtabTensor

// The BERT encoder (BERT, MiniLM and the sentence-transformers models built on them).
// Reference: transformers `models/bert/modeling_bert.py` (post-norm blocks: word +
// position + token-type embeddings → LayerNorm, then per layer bidirectional multi-head
// attention → dense → residual → LayerNorm, dense → GELU → dense → residual → LayerNorm).

/// A BERT encoder with frozen weights, producing one hidden state per token.
///
/// Weights keep their Hugging Face names without the `bert.` prefix task heads add
/// (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`).
/// The forward pass calls ``ModelHooks`` at the same places as the decoders: input
/// embeddings (before position embeddings are added), attention prefixes, every linear
/// layer (``linearSites``, block prefix `encoder.layer`) and both block outputs (before
/// the residual add and LayerNorm). The pooler is not loaded.
public final class BertModel {
    public let configuration: BertConfiguration
    /// Every loaded weight, by its Hugging Face name.
    public let parameters: [String: Variable]
    /// Every linear layer a method can wrap, six per layer.
    public let linearSites: [LinearSite]

    /// The prefix of block paths in BERT checkpoints.
    public static let blockPrefix = "encoder.layer"

    private struct Norm {
        let weight: Variable, bias: Variable
    }

    private struct Dense {
        let weight: Variable, bias: Variable
        let site: LinearSite
    }

    private struct Layer {
        let query: Dense, key: Dense, value: Dense
        let attentionOutput: Dense
        let attentionNorm: Norm
        let intermediate: Dense
        let output: Dense
        let outputNorm: Norm
    }

    private let wordEmbeddings: Variable
    private let positionEmbeddings: Variable
    private let tokenTypeEmbeddings: Variable
    private let embeddingNorm: Norm
    private let layers: [Layer]
    private let gelu: GELUApproximation

    public var hiddenSize: Int { configuration.hiddenSize }
    public var layerCount: Int { configuration.layerCount }
    public var headCount: Int { configuration.headCount }
    public var headDim: Int { configuration.headDim }

    /// Builds the encoder from weights named as in a Hugging Face checkpoint (without a
    /// `bert.` prefix).
    ///
    /// - Parameters:
    ///   - trainable: which weights get gradients (none by default: the encoder is frozen).
    /// - Throws: ``ModelError`` for an invalid configuration, a missing tensor or a shape
    ///   that does not fit.
    public init(configuration c: BertConfiguration, weights: [String: Tensor], source: String,
                trainable: (String) -> Bool = { _ in false }) throws {
        try c.validate(source: source)
        configuration = c
        gelu = c.geluApproximation ?? GELUApproximation.none
        let table = WeightTable(tensors: weights, source: source, trainable: trainable)
        let hidden = c.hiddenSize
        let frozen = table.variable
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try frozen("\(prefix).LayerNorm.weight", [hidden]),
                 bias: try frozen("\(prefix).LayerNorm.bias", [hidden]))
        }
        var sites: [LinearSite] = []
        func dense(_ layer: Int, _ module: String, _ inFeatures: Int, _ outFeatures: Int) throws -> Dense {
            let site = LinearSite(layer: layer, module: module, blockPrefix: Self.blockPrefix,
                                  inFeatures: inFeatures, outFeatures: outFeatures)
            sites.append(site)
            return Dense(weight: try frozen("\(site.path).weight", [outFeatures, inFeatures]),
                         bias: try frozen("\(site.path).bias", [outFeatures]), site: site)
        }
        wordEmbeddings = try frozen("embeddings.word_embeddings.weight", [c.vocabularySize, hidden])
        positionEmbeddings = try frozen("embeddings.position_embeddings.weight", [c.maxPositions, hidden])
        tokenTypeEmbeddings = try frozen("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, hidden])
        embeddingNorm = try norm("embeddings")
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "\(Self.blockPrefix).\(i)"
            layers.append(Layer(
                query: try dense(i, "attention.self.query", hidden, hidden),
                key: try dense(i, "attention.self.key", hidden, hidden),
                value: try dense(i, "attention.self.value", hidden, hidden),
                attentionOutput: try dense(i, "attention.output.dense", hidden, hidden),
                attentionNorm: try norm("\(p).attention.output"),
                intermediate: try dense(i, "intermediate.dense", hidden, c.intermediateSize),
                output: try dense(i, "output.dense", c.intermediateSize, hidden),
                outputNorm: try norm("\(p).output")))
        }
        self.layers = layers
        linearSites = sites
        parameters = table.parameters
    }

    /// Loads the encoder of a Hugging Face directory (`config.json` with `model_type`
    /// `bert`, `model.safetensors` or a sharded index).
    ///
    /// Tensors under a `bert.` prefix (task-head checkpoints) are renamed without it;
    /// the pooler, task heads and the `position_ids` buffer are ignored.
    ///
    /// - Parameters:
    ///   - matrixType: storage of the frozen matrices (`f32`, or `bf16` for half the memory).
    ///   - trainable: which weights get gradients.
    /// - Throws: ``ModelError`` or ``CheckpointError`` naming the file and field at fault.
    public static func load(directory: URL, matrixType: DType = .f32,
                            trainable: (String) -> Bool = { _ in false }) throws -> BertModel {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "is missing", source: directory.path)
        }
        let configuration: BertConfiguration
        do {
            configuration = try JSONDecoder().decode(BertConfiguration.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelError.invalidConfiguration(field: key.stringValue, reason: "is missing", source: configURL.path)
        } catch let DecodingError.typeMismatch(_, context) {
            throw ModelError.invalidConfiguration(field: context.codingPath.map(\.stringValue).joined(separator: "."),
                                                  reason: "has the wrong type", source: configURL.path)
        } catch {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "is not valid: \(error)",
                                                  source: configURL.path)
        }
        try configuration.validate(source: configURL.path)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        var weights: [String: Tensor] = [:]
        for stored in checkpoint.tensorNames {
            let name = stored.hasPrefix("bert.") ? String(stored.dropFirst("bert.".count)) : stored
            guard name.hasPrefix("embeddings.") || name.hasPrefix("encoder."),
                  name != "embeddings.position_ids" else { continue }
            var t = try checkpoint.tensor(stored)
            if t.rank == 2 && matrixType != .f32 { t = t.converted(to: matrixType) }
            weights[name] = t
        }
        return try BertModel(configuration: configuration, weights: weights, source: directory.path,
                             trainable: trainable)
    }

    /// Weights for `configuration` drawn from N(0, 0.02²), LayerNorm gains 1, biases 0,
    /// as transformers initialises a fresh BERT (for tests and toy models).
    public static func randomWeights(_ c: BertConfiguration, seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var out: [String: Tensor] = [:]
        let hidden = c.hiddenSize
        func normal(_ name: String, _ shape: [Int]) {
            let t = Tensor(zeros: shape)
            for i in 0..<t.count { t.floats[i] = rng.nextNormal() * 0.02 }
            out[name] = t
        }
        func norm(_ prefix: String) {
            let w = Tensor(zeros: [hidden])
            w.fill(1)
            out["\(prefix).LayerNorm.weight"] = w
            out["\(prefix).LayerNorm.bias"] = Tensor(zeros: [hidden])
        }
        func dense(_ name: String, _ inFeatures: Int, _ outFeatures: Int) {
            normal("\(name).weight", [outFeatures, inFeatures])
            out["\(name).bias"] = Tensor(zeros: [outFeatures])
        }
        normal("embeddings.word_embeddings.weight", [c.vocabularySize, hidden])
        normal("embeddings.position_embeddings.weight", [c.maxPositions, hidden])
        normal("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, hidden])
        norm("embeddings")
        for i in 0..<c.layerCount {
            let p = "\(blockPrefix).\(i)"
            dense("\(p).attention.self.query", hidden, hidden)
            dense("\(p).attention.self.key", hidden, hidden)
            dense("\(p).attention.self.value", hidden, hidden)
            dense("\(p).attention.output.dense", hidden, hidden)
            norm("\(p).attention.output")
            dense("\(p).intermediate.dense", hidden, c.intermediateSize)
            dense("\(p).output.dense", c.intermediateSize, hidden)
            norm("\(p).output")
        }
        return out
    }

    /// The last hidden states `[B, V + T, C]` of `batch`, where `V` virtual tokens may be
    /// prepended by `hooks`.
    ///
    /// Attention is bidirectional; padding keys (mask 0) are never attended to. Padding
    /// rows still get (meaningless) hidden states; pool over ``TokenBatch/mask`` only.
    /// Position ids count from 0 at the first (virtual or real) token, shifted by the
    /// length of an attention prefix as transformers does for `past_key_values`.
    ///
    /// - Parameters:
    ///   - batch: right-padded token ids with their mask.
    ///   - tokenTypes: segment ids `[B, T]` row-major, each in `0..<type_vocab_size`
    ///     (`nil`: all 0, a single sentence). Virtual tokens get type 0.
    ///   - hooks: the PEFT seam, or `nil` for the plain encoder.
    public func hiddenStates(_ batch: TokenBatch, tokenTypes: [Int32]? = nil, tape: Tape,
                             hooks: ModelHooks? = nil) -> (hidden: Variable, virtualCount: Int) {
        let c = configuration
        let b = batch.batchSize
        if let tokenTypes {
            precondition(tokenTypes.count == batch.ids.count,
                         "BertModel: \(tokenTypes.count) token types for \(b)×\(batch.length) tokens")
        }
        var x = tape.embedding(wordEmbeddings, ids: batch.ids, shape: [b, batch.length])
        var virtualCount = 0
        var virtualMask: [UInt8] = []
        if let hooks {
            let edited = hooks.inputEmbeddings(x, batch: batch, tape: tape)
            x = edited.embeddings
            virtualCount = edited.virtualCount
            virtualMask = edited.virtualMask ?? [UInt8](repeating: 1, count: b * virtualCount)
        }
        let t = virtualCount + batch.length
        var tokenMask = [UInt8](repeating: 0, count: b * t)
        var types = [Int32](repeating: 0, count: b * t)
        for row in 0..<b {
            for j in 0..<virtualCount { tokenMask[row * t + j] = virtualMask[row * virtualCount + j] }
            for j in 0..<batch.length {
                tokenMask[row * t + virtualCount + j] = batch.mask[row * batch.length + j]
                types[row * t + virtualCount + j] = tokenTypes?[row * batch.length + j] ?? 0
            }
        }
        let prefixes = (0..<c.layerCount).map { hooks?.attentionPrefix(layer: $0, batchSize: b, tape: tape) }
        let offset = prefixes[0]?.key.shape[1] ?? 0
        precondition(offset + t <= c.maxPositions,
                     "BertModel: \(offset + t) positions exceed max_position_embeddings (\(c.maxPositions))")
        var positions = [Int32](repeating: 0, count: b * t)
        for row in 0..<b {
            for j in 0..<t { positions[row * t + j] = Int32(offset + j) }
        }
        // As transformers: (inputs + token types) + positions, then LayerNorm.
        x = tape.add(x, tape.embedding(tokenTypeEmbeddings, ids: types, shape: [b, t]))
        x = tape.add(x, tape.embedding(positionEmbeddings, ids: positions, shape: [b, t]))
        x = tape.layerNorm(x, weight: embeddingNorm.weight, bias: embeddingNorm.bias, eps: c.layerNormEps)

        let keyMask: [UInt8]? = tokenMask.contains(0) ? tokenMask : nil
        for (i, layer) in layers.enumerated() {
            // Self-attention, then dense → residual → LayerNorm.
            let q = project(x, layer.query, hooks, tape)
            let k = project(x, layer.key, hooks, tape)
            let v = project(x, layer.value, hooks, tape)
            var options = AttentionOptions(causal: false, keyMask: keyMask)
            if let prefix = prefixes[i] {
                options.prefixKey = prefix.key
                options.prefixValue = prefix.value
                options.prefixMask = prefix.mask
            }
            let attended = tape.attention(query: tape.reshape(q, [b, t, c.headCount, c.headDim]),
                                          key: tape.reshape(k, [b, t, c.headCount, c.headDim]),
                                          value: tape.reshape(v, [b, t, c.headCount, c.headDim]),
                                          options: options)
            var a = project(tape.reshape(attended, [b, t, c.hiddenSize]), layer.attentionOutput, hooks, tape)
            if let hooks { a = hooks.blockOutput(BlockSite(layer: i, part: .attention), a, tape: tape) }
            x = tape.layerNorm(tape.add(a, x), weight: layer.attentionNorm.weight, bias: layer.attentionNorm.bias,
                               eps: c.layerNormEps)

            // Feed-forward: dense → GELU → dense → residual → LayerNorm.
            let h = tape.gelu(project(x, layer.intermediate, hooks, tape), approximation: gelu)
            var f = project(h, layer.output, hooks, tape)
            if let hooks { f = hooks.blockOutput(BlockSite(layer: i, part: .feedForward), f, tape: tape) }
            x = tape.layerNorm(tape.add(f, x), weight: layer.outputNorm.weight, bias: layer.outputNorm.bias,
                               eps: c.layerNormEps)
        }
        return (x, virtualCount)
    }

    /// A linear layer with the hooks around it.
    private func project(_ input: Variable, _ dense: Dense, _ hooks: ModelHooks?, _ tape: Tape) -> Variable {
        guard let hooks else { return tape.linear(input, dense.weight, bias: dense.bias) }
        let x = hooks.linearInput(dense.site, input, tape: tape)
        let base = tape.linear(x, dense.weight, bias: dense.bias)
        return hooks.linearOutput(dense.site, input: x, base: base, tape: tape)
    }
}
