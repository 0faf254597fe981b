import Foundation
import TrimtabIO
import TrimtabTensor
import TrimtabText

/// A model with the tokenizer that belongs to it.
public struct LoadedModel {
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    /// Where it was read from.
    public let source: String

    public init(model: LanguageModel, tokenizer: Tokenizer, source: String) {
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
    }
}

/// Loads a base model from a Hugging Face directory (`config.json`, `*.safetensors`,
/// `tokenizer.json`) or a single llama.cpp `.gguf` file; both end as the same model type
/// with weights under Hugging Face names.
public enum ModelLoader {
    /// Loads the model at `path`.
    ///
    /// - Parameters:
    ///   - matrixType: storage of the frozen weight matrices (`f32`, or `bf16` for half
    ///     the memory on the backend's bf16 kernels).
    ///   - trainable: which weights get gradients (none: the base stays frozen).
    ///   - keepQuantizedBlocks: for a GGUF file, also keep the frozen matrices stored in
    ///     Q4_0, Q4_1 or Q8_0 as those blocks (borrowed from the file mapping) so that
    ///     decoding multiplies from them: the same weights the dequantised matrices hold,
    ///     at 4.5–8.5 bits instead of 32 (16 for bf16) streamed per token.
    public static func load(_ path: String, matrixType: DType = .f32,
                            trainable: (String) -> Bool = { _ in false },
                            keepQuantizedBlocks: Bool = true) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.invalidConfiguration(field: "path", reason: "does not exist", source: path)
        }
        // Loading frees temporaries (f32 matrices before conversion or unpermuting) of
        // sizes nothing asks for again; cached, they would stay resident.
        defer { BlockCache.releaseAll() }
        if isDirectory.boolValue {
            return try loadDirectory(URL(fileURLWithPath: path), matrixType: matrixType, trainable: trainable)
        }
        if path.hasSuffix(".gguf") {
            return try loadGGUF(path, matrixType: matrixType, trainable: trainable,
                                 keepQuantizedBlocks: keepQuantizedBlocks)
        }
        throw ModelError.invalidConfiguration(field: "path", reason: "is neither a model directory nor a .gguf file",
                                              source: path)
    }

    static func loadGGUF(_ path: String, matrixType: DType, trainable: (String) -> Bool,
                         keepQuantizedBlocks: Bool) throws -> LoadedModel {
        let file = try GGUFFile(url: URL(fileURLWithPath: path))
        let configuration = try LlamaGGUF.configuration(file)
        let weights = try LlamaGGUF.weights(file, configuration, matrixType: matrixType)
        let blocks = keepQuantizedBlocks ? try LlamaGGUF.quantizedBlocks(file, configuration) : [:]
        let model = try LlamaModel(configuration: configuration, weights: weights, source: path, trainable: trainable,
                                   quantized: blocks)
        let tokenizer = try Tokenizer(gguf: tokenizerMetadata(file))
        return LoadedModel(model: model, tokenizer: tokenizer, source: path)
    }

    static func loadDirectory(_ url: URL, matrixType: DType, trainable: (String) -> Bool) throws -> LoadedModel {
        let configURL = url.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "is missing", source: url.path)
        }
        let header = try JSONDecoder().decode(ArchitectureHeader.self, from: data)
        let checkpoint = try SafetensorsCheckpoint(directory: url)
        let tokenizer = try Tokenizer(directory: url)
        func decode<C: Decodable>(_ type: C.Type) throws -> C {
            do {
                return try JSONDecoder().decode(type, from: data)
            } catch {
                throw ModelError.invalidConfiguration(field: "config.json", reason: "\(error)", source: configURL.path)
            }
        }
        func weights() throws -> [String: Tensor] {
            var weights: [String: Tensor] = [:]
            for name in checkpoint.tensorNames {
                var t = try checkpoint.tensor(name)
                if t.rank == 2 && matrixType != .f32 { t = t.converted(to: matrixType) }
                weights[name] = t
            }
            return weights
        }
        let model: LanguageModel
        switch header.modelType ?? "llama" {
        case "llama", "mistral", "qwen2":
            model = try LlamaModel(configuration: try decode(LlamaConfiguration.self), weights: try weights(),
                                   source: url.path, trainable: trainable)
        case "gpt2":
            model = try GPT2Model(configuration: try decode(GPT2Configuration.self), weights: try weights(),
                                  source: url.path, trainable: trainable)
        case let other:
            throw ModelError.unsupportedArchitecture(other, source: configURL.path)
        }
        return LoadedModel(model: model, tokenizer: tokenizer, source: url.path)
    }

    /// The `tokenizer.ggml.*` keys as plain values.
    static func tokenizerMetadata(_ file: GGUFFile) throws -> GGUFTokenizerMetadata {
        let m = file.metadata
        guard let model = m["tokenizer.ggml.model"]?.string, let tokens = m["tokenizer.ggml.tokens"]?.strings else {
            throw ModelError.invalidConfiguration(field: "tokenizer.ggml.tokens", reason: "is missing",
                                                  source: file.path)
        }
        func id(_ key: String) -> Int32? { m[key]?.int.map(Int32.init) }
        return GGUFTokenizerMetadata(
            model: model,
            pre: m["tokenizer.ggml.pre"]?.string,
            tokens: tokens,
            tokenTypes: m["tokenizer.ggml.token_type"]?.ints?.map(Int32.init),
            merges: m["tokenizer.ggml.merges"]?.strings,
            scores: m["tokenizer.ggml.scores"]?.floats,
            bosTokenId: id("tokenizer.ggml.bos_token_id"),
            eosTokenId: id("tokenizer.ggml.eos_token_id"),
            padTokenId: id("tokenizer.ggml.padding_token_id"),
            unknownTokenId: id("tokenizer.ggml.unknown_token_id"),
            addBosToken: m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            addEosToken: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.bool ?? true,
            chatTemplate: m["tokenizer.chat_template"]?.string)
    }
}

/// The fields of `config.json` that pick an architecture.
private struct ArchitectureHeader: Decodable {
    let modelType: String?
    enum CodingKeys: String, CodingKey { case modelType = "model_type" }
}
