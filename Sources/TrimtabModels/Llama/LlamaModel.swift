import TrimtabTensor

// The Llama family of decoders: Llama 2/3, Mistral, Qwen2 (q/k/v biases), SmolLM2.
// Reference: transformers `models/llama/modeling_llama.py` (pre-norm blocks, RMSNorm,
// rotary embeddings in the rotate-half layout, grouped-query attention, SwiGLU MLP,
// optionally tied output embeddings).

/// A Llama-family causal language model with frozen weights.
public final class LlamaModel: LanguageModel {
    public let configuration: LlamaConfiguration
    public let parameters: [String: Variable]
    public let linearSites: [LinearSite]

    private struct Block {
        let inputNorm: Variable
        let q: Variable, k: Variable, v: Variable, o: Variable
        let qBias: Variable?, kBias: Variable?, vBias: Variable?
        let postNorm: Variable
        let gate: Variable, up: Variable, down: Variable
        let sites: [String: LinearSite]
    }

    private let embedTokens: Variable
    private let blocks: [Block]
    private let finalNorm: Variable
    private let lmHead: Variable
    private let rope: RoPETable

    public var architecture: String { configuration.modelType }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var hiddenSize: Int { configuration.hiddenSize }
    public var layerCount: Int { configuration.layerCount }
    public var headCount: Int { configuration.headCount }
    public var kvHeadCount: Int { configuration.kvHeadCount }
    public var headDim: Int { configuration.headDim }

    /// Builds the model from weights named as in a Hugging Face checkpoint.
    ///
    /// - Parameters:
    ///   - trainable: which weights get gradients (none by default: the base model is
    ///     frozen; full fine-tuning, BitFit and LayerNorm tuning select some or all).
    ///   - quantized: block-quantised copies of frozen weight matrices (a GGUF's own
    ///     blocks), which decoding multiplies from (``Variable/quantized``).
    /// - Throws: ``ModelError`` naming a missing tensor or a shape that does not fit.
    public init(configuration c: LlamaConfiguration, weights: [String: Tensor], source: String,
                trainable: (String) -> Bool = { _ in false },
                quantized: [String: QuantizedMatrix] = [:]) throws {
        configuration = c
        let table = WeightTable(tensors: weights, source: source, trainable: trainable)
        let hidden = c.hiddenSize, qWidth = c.headCount * c.headDim, kvWidth = c.kvHeadCount * c.headDim
        let frozen = table.variable
        embedTokens = try frozen("model.embed_tokens.weight", [c.vocabularySize, hidden])
        var sites: [LinearSite] = []
        var blocks: [Block] = []
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)"
            var blockSites: [String: LinearSite] = [:]
            for (module, inF, outF) in [("self_attn.q_proj", hidden, qWidth), ("self_attn.k_proj", hidden, kvWidth),
                                        ("self_attn.v_proj", hidden, kvWidth), ("self_attn.o_proj", qWidth, hidden),
                                        ("mlp.gate_proj", hidden, c.intermediateSize),
                                        ("mlp.up_proj", hidden, c.intermediateSize),
                                        ("mlp.down_proj", c.intermediateSize, hidden)] {
                let site = LinearSite(layer: i, module: module, blockPrefix: "model.layers",
                                      inFeatures: inF, outFeatures: outF)
                blockSites[module] = site
                sites.append(site)
            }
            let bias = c.attentionBias
            blocks.append(Block(
                inputNorm: try frozen("\(p).input_layernorm.weight", [hidden]),
                q: try frozen("\(p).self_attn.q_proj.weight", [qWidth, hidden]),
                k: try frozen("\(p).self_attn.k_proj.weight", [kvWidth, hidden]),
                v: try frozen("\(p).self_attn.v_proj.weight", [kvWidth, hidden]),
                o: try frozen("\(p).self_attn.o_proj.weight", [hidden, qWidth]),
                qBias: bias ? try frozen("\(p).self_attn.q_proj.bias", [qWidth]) : nil,
                kBias: bias ? try frozen("\(p).self_attn.k_proj.bias", [kvWidth]) : nil,
                vBias: bias ? try frozen("\(p).self_attn.v_proj.bias", [kvWidth]) : nil,
                postNorm: try frozen("\(p).post_attention_layernorm.weight", [hidden]),
                gate: try frozen("\(p).mlp.gate_proj.weight", [c.intermediateSize, hidden]),
                up: try frozen("\(p).mlp.up_proj.weight", [c.intermediateSize, hidden]),
                down: try frozen("\(p).mlp.down_proj.weight", [hidden, c.intermediateSize]),
                sites: blockSites))
        }
        self.blocks = blocks
        finalNorm = try frozen("model.norm.weight", [hidden])
        if let head = try table.optionalVariable("lm_head.weight", [c.vocabularySize, hidden]), !c.tieWordEmbeddings {
            lmHead = head
        } else {
            lmHead = embedTokens
        }
        linearSites = sites
        parameters = table.parameters
        for (name, blocks) in quantized {
            guard let weight = parameters[name], !weight.requiresGrad else { continue }
            guard weight.shape == [blocks.rows, blocks.columns] else {
                throw ModelError.shapeMismatch(name: name, expected: weight.shape, got: [blocks.rows, blocks.columns],
                                               source: source)
            }
            weight.quantized = blocks
        }
        rope = RoPETable(headDim: c.headDim, base: c.ropeTheta, maxPositions: c.maxPositions)
    }

    /// Weights for `configuration` drawn from N(0, 0.02²), norm gains 1, biases 0, as
    /// transformers initialises a fresh Llama (for tests and toy models).
    public static func randomWeights(_ c: LlamaConfiguration, seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var out: [String: Tensor] = [:]
        func normal(_ name: String, _ shape: [Int]) {
            let t = Tensor(zeros: shape)
            for i in 0..<t.count { t.floats[i] = rng.nextNormal() * 0.02 }
            out[name] = t
        }
        func ones(_ name: String, _ n: Int) {
            let t = Tensor(zeros: [n])
            t.fill(1)
            out[name] = t
        }
        let hidden = c.hiddenSize, qWidth = c.headCount * c.headDim, kvWidth = c.kvHeadCount * c.headDim
        normal("model.embed_tokens.weight", [c.vocabularySize, hidden])
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)"
            ones("\(p).input_layernorm.weight", hidden)
            ones("\(p).post_attention_layernorm.weight", hidden)
            normal("\(p).self_attn.q_proj.weight", [qWidth, hidden])
            normal("\(p).self_attn.k_proj.weight", [kvWidth, hidden])
            normal("\(p).self_attn.v_proj.weight", [kvWidth, hidden])
            normal("\(p).self_attn.o_proj.weight", [hidden, qWidth])
            if c.attentionBias {
                out["\(p).self_attn.q_proj.bias"] = Tensor(zeros: [qWidth])
                out["\(p).self_attn.k_proj.bias"] = Tensor(zeros: [kvWidth])
                out["\(p).self_attn.v_proj.bias"] = Tensor(zeros: [kvWidth])
            }
            normal("\(p).mlp.gate_proj.weight", [c.intermediateSize, hidden])
            normal("\(p).mlp.up_proj.weight", [c.intermediateSize, hidden])
            normal("\(p).mlp.down_proj.weight", [hidden, c.intermediateSize])
        }
        ones("model.norm.weight", hidden)
        if !c.tieWordEmbeddings { normal("lm_head.weight", [c.vocabularySize, hidden]) }
        return out
    }

    public func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layers: configuration.layerCount, batchSize: batchSize, capacity: capacity,
                kvHeads: configuration.kvHeadCount, headDim: configuration.headDim)
    }

    public var outputProjection: Variable { lmHead }

    public func hiddenStates(_ batch: TokenBatch, tape: Tape, hooks: ModelHooks?,
                             cache: KVCache?) -> (hidden: Variable, virtualCount: Int) {
        let c = configuration
        let b = batch.batchSize
        let layout = SequenceLayout(
            batch: batch, tokenEmbeddings: tape.embedding(embedTokens, ids: batch.ids, shape: [b, batch.length]),
            layerCount: c.layerCount, tape: tape, hooks: hooks, cache: cache)
        var x = layout.embeddings
        let t = layout.length, positions = layout.positions

        for (i, block) in blocks.enumerated() {
            let blockStart = tape.count
            // Attention. Norms (and the SwiGLU) whose readers are products over bf16
            // weights also write their output rounded to bf16, which those products read
            // (q, k and v would otherwise round the same input three times).
            let h = tape.rmsNorm(x, weight: block.inputNorm, eps: c.rmsNormEps,
                                 roundedCopy: Self.areBF16(block.q, block.k, block.v))
            let qkv = project(h, [(block.q, block.qBias, "self_attn.q_proj"), (block.k, block.kBias, "self_attn.k_proj"),
                                  (block.v, block.vBias, "self_attn.v_proj")], block, hooks, tape)
            let (q, k, v) = (qkv[0], qkv[1], qkv[2])
            let qr = tape.rope(tape.reshape(q, [b, t, c.headCount, c.headDim]), table: rope,
                               positions: positions, layout: .rotateHalf)
            var kr = tape.rope(tape.reshape(k, [b, t, c.kvHeadCount, c.headDim]), table: rope,
                               positions: positions, layout: .rotateHalf)
            var vr = tape.reshape(v, [b, t, c.kvHeadCount, c.headDim])
            if let cache {
                let full = cache.append(layer: i, key: kr.value, value: vr.value, count: t)
                kr = Variable(full.key)
                vr = Variable(full.value)
            }
            let attended = tape.attention(query: qr, key: kr, value: vr, options: layout.attentionOptions(layer: i))
            var a = project(tape.reshape(attended, [b, t, c.headCount * c.headDim]), [(block.o, nil, "self_attn.o_proj")],
                            block, hooks, tape)[0]
            if let hooks { a = hooks.blockOutput(BlockSite(layer: i, part: .attention), a, tape: tape) }
            x = tape.add(x, a)

            // Feed-forward.
            let h2 = tape.rmsNorm(x, weight: block.postNorm, eps: c.rmsNormEps,
                                  roundedCopy: Self.areBF16(block.gate, block.up))
            let gateUp = project(h2, [(block.gate, nil, "mlp.gate_proj"), (block.up, nil, "mlp.up_proj")], block, hooks, tape)
            let (g, u) = (gateUp[0], gateUp[1])
            // Over bf16 weights the products already see their inputs rounded to bf16;
            // backward keeps the SwiGLU's inputs that way too (half their memory, the
            // largest activations of a block), as PyTorch's bf16 autocast stores them.
            let kept: DType = Self.areBF16(block.gate, block.up) ? .bf16 : .f32
            let activated = tape.swiglu(gate: g, up: u, kept: kept, roundedCopy: Self.areBF16(block.down))
            var f = project(activated, [(block.down, nil, "mlp.down_proj")], block, hooks, tape)[0]
            if let hooks { f = hooks.blockOutput(BlockSite(layer: i, part: .feedForward), f, tape: tape) }
            x = tape.add(x, f)
            // The block's results that no backward reads (inputs of frozen projections,
            // rotations, sums) need not wait for backward.
            tape.releaseValues(recordedSince: blockStart, keeping: x)
        }
        cache?.commit(mask: layout.tokenMask, count: t)
        return (tape.rmsNorm(x, weight: finalNorm, eps: c.rmsNormEps, roundedCopy: Self.areBF16(lmHead)),
                layout.virtualCount)
    }

    /// Whether every one of `weights` is stored in bf16.
    private static func areBF16(_ weights: Variable...) -> Bool {
        weights.allSatisfy { $0.value.dtype == .bf16 }
    }

    /// Linear layers of `block` reading the same input, with the hooks around each: every
    /// layer's input hook, the frozen products (fused by ``Tape/linears(_:_:biases:)``
    /// when no hook changed the input), then every layer's output hook.
    private func project(_ input: Variable, _ layers: [(weight: Variable, bias: Variable?, module: String)],
                         _ block: Block, _ hooks: ModelHooks?, _ tape: Tape) -> [Variable] {
        guard let hooks else { return tape.linears(input, layers.map(\.weight), biases: layers.map(\.bias)) }
        let sites = layers.map { block.sites[$0.module]! }
        let inputs = sites.map { hooks.linearInput($0, input, tape: tape) }
        let bases = inputs.allSatisfy({ $0 === input })
            ? tape.linears(input, layers.map(\.weight), biases: layers.map(\.bias))
            : zip(inputs, layers).map { tape.linear($0, $1.weight, bias: $1.bias) }
        return sites.indices.map { hooks.linearOutput(sites[$0], input: inputs[$0], base: bases[$0], tape: tape) }
    }
}
