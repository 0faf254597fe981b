import TrimtabTensor

// GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners").
// Reference: transformers `models/gpt2/modeling_gpt2.py` (GPT2LMHeadModel): token and
// learned position embeddings, pre-LayerNorm blocks with a fused query/key/value
// projection, causal multi-head attention, a GELU (tanh) MLP, a final LayerNorm and an
// output projection tied to the token embeddings. No rotary embeddings.
//
// The checkpoint's projections are `Conv1D` layers whose weight is stored `[in, out]`;
// they are transposed once at load into the `[out, in]` layout of `Tape.linear`.

/// A GPT-2 causal language model with frozen weights.
///
/// ``parameters`` uses the checkpoint's names with the `transformer.` prefix
/// (`transformer.h.0.attn.c_attn.weight`) whether or not the file had it. The four
/// `Conv1D` weights of every block (``conv1DModules``) are held transposed, as
/// `[out, in]`: whoever writes them back into a Hugging Face checkpoint (a full
/// fine-tune, a merged adapter) must transpose them again.
public final class GPT2Model: LanguageModel {
    /// The modules inside a block whose checkpoint weight is a `Conv1D` `[in, out]` matrix.
    public static let conv1DModules = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
    /// The prefix of block paths in ``parameters`` and ``linearSites``.
    public static let blockPrefix = "transformer.h"

    public let configuration: GPT2Configuration
    public let parameters: [String: Variable]
    public let linearSites: [LinearSite]

    private struct Block {
        let norm1Weight: Variable, norm1Bias: Variable
        /// `[3C, C]` (transposed from the checkpoint's `[C, 3C]`): query, key, value rows.
        let attention: Variable, attentionBias: Variable
        let attentionOut: Variable, attentionOutBias: Variable
        let norm2Weight: Variable, norm2Bias: Variable
        let feedForwardIn: Variable, feedForwardInBias: Variable
        let feedForwardOut: Variable, feedForwardOutBias: Variable
        let attentionSite: LinearSite, attentionOutSite: LinearSite
        let feedForwardInSite: LinearSite, feedForwardOutSite: LinearSite
    }

    private let tokenEmbeddings: Variable
    private let positionEmbeddings: Variable
    private let blocks: [Block]
    private let finalNormWeight: Variable
    private let finalNormBias: Variable
    private let lmHead: Variable

    public var architecture: String { "gpt2" }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var hiddenSize: Int { configuration.hiddenSize }
    public var layerCount: Int { configuration.layerCount }
    public var headCount: Int { configuration.headCount }
    public var kvHeadCount: Int { configuration.headCount }
    public var headDim: Int { configuration.headDim }

    /// Builds the model from weights named as in a Hugging Face GPT-2 checkpoint, with or
    /// without the `transformer.` prefix (`GPT2LMHeadModel` writes it, the original
    /// `gpt2` files and `GPT2Model` do not). Buffers some files carry (`attn.bias`,
    /// `attn.masked_bias`) are ignored.
    ///
    /// - Parameters:
    ///   - weights: f32 tensors, or bf16/f16 matrices for a frozen model.
    ///   - trainable: which weights (by their name in ``parameters``) get gradients.
    /// - Throws: ``ModelError`` naming a missing tensor or a shape that does not fit.
    public init(configuration c: GPT2Configuration, weights: [String: Tensor], source: String,
                trainable: (String) -> Bool = { _ in false }) throws {
        configuration = c
        var named: [String: Tensor] = [:]
        for (name, tensor) in weights {
            let canonical = name.hasPrefix("transformer.") || name.hasPrefix("lm_head.") ? name : "transformer." + name
            named[canonical] = tensor
        }
        let table = WeightTable(tensors: named, source: source, trainable: trainable)
        let hidden = c.hiddenSize, inner = c.intermediateSize
        let frozen = table.variable
        /// A Conv1D weight stored `[inF, outF]`, held as `[outF, inF]`.
        func conv1D(_ name: String, _ inF: Int, _ outF: Int) throws -> Variable {
            table.register(name, Self.transposed(try table.take(name, [inF, outF])))
        }
        tokenEmbeddings = try frozen("transformer.wte.weight", [c.vocabularySize, hidden])
        positionEmbeddings = try frozen("transformer.wpe.weight", [c.maxPositions, hidden])
        var sites: [LinearSite] = []
        var blocks: [Block] = []
        for i in 0..<c.layerCount {
            let p = "\(Self.blockPrefix).\(i)"
            func site(_ module: String, _ inF: Int, _ outF: Int) -> LinearSite {
                let s = LinearSite(layer: i, module: module, blockPrefix: Self.blockPrefix, inFeatures: inF,
                                   outFeatures: outF)
                sites.append(s)
                return s
            }
            blocks.append(Block(
                norm1Weight: try frozen("\(p).ln_1.weight", [hidden]),
                norm1Bias: try frozen("\(p).ln_1.bias", [hidden]),
                attention: try conv1D("\(p).attn.c_attn.weight", hidden, 3 * hidden),
                attentionBias: try frozen("\(p).attn.c_attn.bias", [3 * hidden]),
                attentionOut: try conv1D("\(p).attn.c_proj.weight", hidden, hidden),
                attentionOutBias: try frozen("\(p).attn.c_proj.bias", [hidden]),
                norm2Weight: try frozen("\(p).ln_2.weight", [hidden]),
                norm2Bias: try frozen("\(p).ln_2.bias", [hidden]),
                feedForwardIn: try conv1D("\(p).mlp.c_fc.weight", hidden, inner),
                feedForwardInBias: try frozen("\(p).mlp.c_fc.bias", [inner]),
                feedForwardOut: try conv1D("\(p).mlp.c_proj.weight", inner, hidden),
                feedForwardOutBias: try frozen("\(p).mlp.c_proj.bias", [hidden]),
                attentionSite: site("attn.c_attn", hidden, 3 * hidden),
                attentionOutSite: site("attn.c_proj", hidden, hidden),
                feedForwardInSite: site("mlp.c_fc", hidden, inner),
                feedForwardOutSite: site("mlp.c_proj", inner, hidden)))
        }
        self.blocks = blocks
        finalNormWeight = try frozen("transformer.ln_f.weight", [hidden])
        finalNormBias = try frozen("transformer.ln_f.bias", [hidden])
        // GPT2LMHeadModel ties lm_head to wte; a stored copy is the same matrix.
        lmHead = tokenEmbeddings
        linearSites = sites
        parameters = table.parameters
    }

    /// `[R, K]` → `[K, R]` for 4-byte (f32) and 2-byte (bf16, f16) elements.
    private static func transposed(_ t: Tensor) -> Tensor {
        let rows = t.shape[0], cols = t.shape[1]
        let out = Tensor(zeros: [cols, rows], dtype: t.dtype)
        func run<T>(_ src: UnsafeMutablePointer<T>, _ dst: UnsafeMutablePointer<T>) {
            for r in 0..<rows {
                for k in 0..<cols { dst[k * rows + r] = src[r * cols + k] }
            }
        }
        if t.dtype == .f32 { run(t.floats, out.floats) } else { run(t.halves, out.halves) }
        return out
    }

    public func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layers: configuration.layerCount, batchSize: batchSize, capacity: capacity,
                kvHeads: configuration.headCount, headDim: configuration.headDim)
    }

    public var outputProjection: Variable { lmHead }

    public func hiddenStates(_ batch: TokenBatch, tape: Tape, hooks: ModelHooks?,
                             cache: KVCache?) -> (hidden: Variable, virtualCount: Int) {
        let c = configuration
        let b = batch.batchSize, hidden = c.hiddenSize
        let layout = SequenceLayout(
            batch: batch, tokenEmbeddings: tape.embedding(tokenEmbeddings, ids: batch.ids, shape: [b, batch.length]),
            layerCount: c.layerCount, tape: tape, hooks: hooks, cache: cache)
        var x = layout.embeddings
        let t = layout.length, positions = layout.positions
        precondition(positions.allSatisfy { Int($0) < c.maxPositions },
                     "GPT-2 reads at most \(c.maxPositions) positions (n_positions); this batch needs "
                        + "\((positions.max() ?? 0) + 1)")
        x = tape.add(x, tape.embedding(positionEmbeddings, ids: positions, shape: [b, t]))

        // The fused projection's rows [b·t·3, C] hold query, key, value of each token in turn.
        let tokens = b * t
        let splitIds = (0..<3).map { part in (0..<tokens).map { Int32($0 * 3 + part) } }
        let scale: Float = c.scaleAttentionWeights ? 1 / Float(c.headDim).squareRoot() : 1

        for (i, block) in blocks.enumerated() {
            let blockStart = tape.count
            // Attention.
            let h = tape.layerNorm(x, weight: block.norm1Weight, bias: block.norm1Bias, eps: c.layerNormEps)
            let qkv = project(h, block.attention, block.attentionBias, block.attentionSite, hooks, tape)
            // Split the fused output by gathering rows (the embedding op's backward
            // scatters the gradients back into the fused rows).
            let rows = tape.reshape(qkv, [tokens * 3, hidden])
            let heads = [b, t, c.headCount, c.headDim]
            let q = tape.reshape(tape.embedding(rows, ids: splitIds[0], shape: [tokens]), heads)
            var k = tape.reshape(tape.embedding(rows, ids: splitIds[1], shape: [tokens]), heads)
            var v = tape.reshape(tape.embedding(rows, ids: splitIds[2], shape: [tokens]), heads)
            if let cache {
                let full = cache.append(layer: i, key: k.value, value: v.value, count: t)
                k = Variable(full.key)
                v = Variable(full.value)
            }
            var options = layout.attentionOptions(layer: i)
            options.scale = c.scaleAttentionByInverseLayerIndex ? scale / Float(i + 1) : scale
            let attended = tape.attention(query: q, key: k, value: v, options: options)
            var a = project(tape.reshape(attended, [b, t, hidden]), block.attentionOut, block.attentionOutBias,
                            block.attentionOutSite, hooks, tape)
            if let hooks { a = hooks.blockOutput(BlockSite(layer: i, part: .attention), a, tape: tape) }
            x = tape.add(x, a)

            // Feed-forward.
            let h2 = tape.layerNorm(x, weight: block.norm2Weight, bias: block.norm2Bias, eps: c.layerNormEps)
            let up = project(h2, block.feedForwardIn, block.feedForwardInBias, block.feedForwardInSite, hooks, tape)
            var f = project(tape.gelu(up, approximation: c.activation), block.feedForwardOut,
                            block.feedForwardOutBias, block.feedForwardOutSite, hooks, tape)
            if let hooks { f = hooks.blockOutput(BlockSite(layer: i, part: .feedForward), f, tape: tape) }
            x = tape.add(x, f)
            tape.releaseValues(recordedSince: blockStart, keeping: x)  // see LlamaModel
        }
        cache?.commit(mask: layout.tokenMask, count: t)
        return (tape.layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: c.layerNormEps), layout.virtualCount)
    }

    /// A linear layer with the hooks around it.
    private func project(_ input: Variable, _ weight: Variable, _ bias: Variable, _ site: LinearSite,
                         _ hooks: ModelHooks?, _ tape: Tape) -> Variable {
        guard let hooks else { return tape.linear(input, weight, bias: bias) }
        let x = hooks.linearInput(site, input, tape: tape)
        let base = tape.linear(x, weight, bias: bias)
        return hooks.linearOutput(site, input: x, base: base, tape: tape)
    }
}
