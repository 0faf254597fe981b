import TrimtabIO
import TrimtabTensor

// Reading a Llama-family model out of a llama.cpp GGUF file.
//
// llama.cpp's converter renames tensors (`blk.3.attn_q.weight`) and permutes the rows of
// the query and key projections so that its interleaved rotary embedding equals
// transformers' rotate-half one. We undo both, so a GGUF model is the same
// `LlamaModel`, with the same weight names and layout, as one read from safetensors; PEFT
// adapters trained against the Hugging Face layout then apply unchanged.

enum LlamaGGUF {
    /// The configuration from `<arch>.*` metadata keys.
    static func configuration(_ file: GGUFFile) throws -> LlamaConfiguration {
        let arch = file.architecture ?? "llama"
        guard ["llama", "mistral", "qwen2"].contains(arch) else {
            throw ModelError.unsupportedArchitecture(arch, source: file.path)
        }
        func int(_ key: String) throws -> Int {
            do { return try file.int("\(arch).\(key)") } catch {
                throw ModelError.invalidConfiguration(field: "\(arch).\(key)", reason: "is missing or not an integer",
                                                      source: file.path)
            }
        }
        if let scaling = file.metadata["\(arch).rope.scaling.type"]?.string, scaling != "none" {
            throw ModelError.invalidConfiguration(field: "\(arch).rope.scaling.type",
                                                  reason: "is '\(scaling)'; rotary scaling is not supported yet",
                                                  source: file.path)
        }
        let embeddings = try file.info("token_embd.weight")
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kvHeads = (try? file.int("\(arch).attention.head_count_kv")) ?? heads
        let tied = !file.tensorInfos.contains { $0.name == "output.weight" }
        return LlamaConfiguration(
            modelType: arch,
            vocabularySize: embeddings.shape[0],
            hiddenSize: hidden,
            intermediateSize: try int("feed_forward_length"),
            layerCount: try int("block_count"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: (try? file.int("\(arch).attention.key_length")) ?? hidden / heads,
            rmsNormEps: (try? file.float("\(arch).attention.layer_norm_rms_epsilon")) ?? 1e-5,
            ropeTheta: (try? file.float("\(arch).rope.freq_base")) ?? 10_000,
            maxPositions: (try? file.int("\(arch).context_length")) ?? 2048,
            tieWordEmbeddings: tied,
            attentionBias: arch == "qwen2",
            bosTokenId: try? file.int("tokenizer.ggml.bos_token_id"),
            eosTokenId: try? file.int("tokenizer.ggml.eos_token_id"))
    }

    /// The weight matrices: GGUF name, Hugging Face name, and for the query and key
    /// projections the head count whose rows llama.cpp permuted.
    static func matrices(_ c: LlamaConfiguration) -> [(gguf: String, hf: String, permutedHeads: Int?)] {
        // llama.cpp runs Qwen2 with the rotate-half ("NEOX") layout and stores it unpermuted.
        let permuted = c.modelType != "qwen2"
        var out: [(gguf: String, hf: String, permutedHeads: Int?)] = [("token_embd.weight", "model.embed_tokens.weight", nil)]
        if !c.tieWordEmbeddings { out.append(("output.weight", "lm_head.weight", nil)) }
        for i in 0..<c.layerCount {
            let g = "blk.\(i)", h = "model.layers.\(i)"
            out += [("\(g).attn_q.weight", "\(h).self_attn.q_proj.weight", permuted ? c.headCount : nil),
                    ("\(g).attn_k.weight", "\(h).self_attn.k_proj.weight", permuted ? c.kvHeadCount : nil),
                    ("\(g).attn_v.weight", "\(h).self_attn.v_proj.weight", nil),
                    ("\(g).attn_output.weight", "\(h).self_attn.o_proj.weight", nil),
                    ("\(g).ffn_gate.weight", "\(h).mlp.gate_proj.weight", nil),
                    ("\(g).ffn_up.weight", "\(h).mlp.up_proj.weight", nil),
                    ("\(g).ffn_down.weight", "\(h).mlp.down_proj.weight", nil)]
        }
        return out
    }

    /// All weights under their Hugging Face names, dequantised to f32 (matrices then
    /// converted to `matrixType`).
    static func weights(_ file: GGUFFile, _ c: LlamaConfiguration, matrixType: DType) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (ggufName, hfName, heads) in matrices(c) {
            var t = try file.tensor(ggufName)
            if let heads { t = unpermuteRows(t, heads: heads) }
            out[hfName] = matrixType == .f32 ? t : t.converted(to: matrixType)
        }
        out["model.norm.weight"] = try file.tensor("output_norm.weight")
        for i in 0..<c.layerCount {
            let g = "blk.\(i)", h = "model.layers.\(i)"
            out["\(h).input_layernorm.weight"] = try file.tensor("\(g).attn_norm.weight")
            out["\(h).post_attention_layernorm.weight"] = try file.tensor("\(g).ffn_norm.weight")
            if c.attentionBias {
                for part in ["q", "k", "v"] {
                    out["\(h).self_attn.\(part)_proj.bias"] = try file.tensor("\(g).attn_\(part).bias")
                }
            }
        }
        return out
    }

    /// The weight matrices stored in a block format with a product kernel (Q4_0, Q4_1,
    /// Q8_0), under their Hugging Face names and in their layout: the blocks borrow the
    /// file mapping, except the query and key rows, which are copied back into
    /// transformers' order as ``weights(_:_:matrixType:)`` does for the f32 matrices.
    static func quantizedBlocks(_ file: GGUFFile, _ c: LlamaConfiguration) throws -> [String: QuantizedMatrix] {
        var out: [String: QuantizedMatrix] = [:]
        for (ggufName, hfName, heads) in matrices(c) {
            let info = try file.info(ggufName)
            let format: QuantizedMatrix.Format
            switch info.type {
            case .q4_0: format = .q4_0
            case .q4_1: format = .q4_1
            case .q8_0: format = .q8_0
            default: continue
            }
            guard info.shape.count == 2, info.shape[1] % QuantizedMatrix.blockSize == 0 else { continue }
            let matrix = QuantizedMatrix(format: format, rows: info.shape[0], columns: info.shape[1],
                                         storage: try file.rawStorage(ggufName))
            out[hfName] = heads.map { heads in
                matrix.reorderingRows { storedRow($0, rows: matrix.rows, heads: heads) }
            } ?? matrix
        }
        return out
    }

    /// Inverts llama.cpp's `permute`: within each head, stored row `(i, j)` (i < D/2,
    /// j ∈ {0, 1}) is Hugging Face row `(j, i)`.
    static func unpermuteRows(_ t: Tensor, heads: Int) -> Tensor {
        let rows = t.shape[0], cols = t.count / max(rows, 1)
        let out = Tensor(zeros: t.shape)
        for row in 0..<rows {
            (out.floats + row * cols).update(from: t.floats + storedRow(row, rows: rows, heads: heads) * cols, count: cols)
        }
        return out
    }

    /// The stored row of Hugging Face row `row` under llama.cpp's `permute`: Hugging Face
    /// row `(h, j·half + i)` is stored as row `(h, 2i + j)`.
    static func storedRow(_ row: Int, rows: Int, heads: Int) -> Int {
        let perHead = rows / heads, half = perHead / 2
        let h = row / perHead, within = row % perHead
        return h * perHead + (within % half) * 2 + within / half
    }
}
