#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TrimtabIO
import TrimtabTensor
import TrimtabText

/// Writes a model as a Hugging Face model directory that transformers'
/// `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained` load:
///
/// - `model.safetensors`: every weight in f32 under its Hugging Face name; with tied
///   embeddings (`tie_word_embeddings`) no `lm_head.weight`;
/// - `config.json`: the configuration's `config.json` keys plus `architectures` and `dtype`;
/// - `generation_config.json`: BOS/EOS/PAD ids;
/// - the tokenizer: copied from the source directory when the model came from one
///   (`tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`, …), otherwise
///   written from Trimtab's ``Tokenizer`` (``Tokenizer/huggingFaceJSON()``, with the chat
///   template and special tokens in `tokenizer_config.json`).
///
/// The files go to a temporary directory beside `directory`, which then replaces it in
/// one rename (an existing directory is moved aside first and removed after).
public enum ModelDirectoryWriter {
    /// Writes `loaded`'s model with `replacing` swapped in for the named weights (a merged
    /// adapter, fine-tuned weights).
    ///
    /// - Throws: ``ModelError`` for an architecture without a writer (Llama family only
    ///   for now), a replacement that does not fit, or a failed write.
    public static func write(_ loaded: LoadedModel, replacing: [String: Tensor] = [:], to directory: URL) throws {
        guard let llama = loaded.model as? LlamaModel else {
            throw ModelError.invalidConfiguration(field: "architecture",
                                                  reason: "\(loaded.model.architecture) cannot be written yet (Llama family only)",
                                                  source: loaded.source)
        }
        let c = llama.configuration
        var tensors: [String: Tensor] = [:]
        for (name, variable) in llama.parameters {
            let value = replacing[name] ?? variable.value
            guard value.shape == variable.shape else {
                throw ModelError.invalidConfiguration(field: name, reason: "replacement has shape \(value.shape), the model's is \(variable.shape)",
                                                      source: loaded.source)
            }
            tensors[name] = value.dtype == .f32 ? value : value.converted(to: .f32)
        }
        if let unknown = replacing.keys.sorted().first(where: { llama.parameters[$0] == nil }) {
            throw ModelError.invalidConfiguration(field: unknown, reason: "is not a weight of the model", source: loaded.source)
        }
        if c.tieWordEmbeddings {
            tensors["lm_head.weight"] = nil
        } else if tensors["lm_head.weight"] == nil {
            tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"]
        }

        let files = try tokenizerFiles(loaded, maxPositions: c.maxPositions)
        let fm = FileManager.default
        let target = directory.standardizedFileURL
        let parent = target.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp")
        func fail(_ path: String, _ error: Error) -> ModelError {
            ModelError.invalidConfiguration(field: "output", reason: "cannot write: \(error.localizedDescription)", source: path)
        }
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            throw fail(staging.path, error)
        }
        defer { try? fm.removeItem(at: staging) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: staging.appendingPathComponent("model.safetensors"))
        do {
            try configJSON(c).write(to: staging.appendingPathComponent("config.json"))
            try generationConfigJSON(c, tokenizer: loaded.tokenizer).write(to: staging.appendingPathComponent("generation_config.json"))
            for (name, data) in files { try data.write(to: staging.appendingPathComponent(name)) }
        } catch {
            throw fail(staging.path, error)
        }
        var aside: URL?
        if fm.fileExists(atPath: target.path) {
            let old = parent.appendingPathComponent(".\(target.lastPathComponent).\(getpid()).old")
            guard rename(target.path, old.path) == 0 else {
                throw ModelError.invalidConfiguration(field: "output", reason: "rename: \(String(cString: strerror(errno)))",
                                                      source: target.path)
            }
            aside = old
        }
        guard rename(staging.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let aside { rename(aside.path, target.path) }
            throw ModelError.invalidConfiguration(field: "output", reason: "rename: \(reason)", source: target.path)
        }
        if let aside { try? fm.removeItem(at: aside) }
    }

    /// `config.json`: the configuration's own keys (`LlamaConfiguration.CodingKeys`) plus
    /// what transformers needs to pick the class.
    static func configJSON(_ c: LlamaConfiguration) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any] ?? [:]
        let architecture: String
        switch c.modelType {
        case "qwen2": architecture = "Qwen2ForCausalLM"
        case "mistral": architecture = "MistralForCausalLM"
        default: architecture = "LlamaForCausalLM"
        }
        object["architectures"] = [architecture]
        object["dtype"] = "float32"
        object["hidden_act"] = "silu"
        object["attention_dropout"] = 0.0
        object["initializer_range"] = 0.02
        object["use_cache"] = true
        object["rope_scaling"] = NSNull()
        if c.modelType == "llama" { object["mlp_bias"] = false }
        if c.modelType == "qwen2" { object.removeValue(forKey: "attention_bias") }
        for key in ["bos_token_id", "eos_token_id"] where object[key] == nil { object[key] = NSNull() }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    static func generationConfigJSON(_ c: LlamaConfiguration, tokenizer: Tokenizer) throws -> Data {
        var object: [String: Any] = [:]
        if let bos = c.bosTokenId ?? tokenizer.bosId.map(Int.init) { object["bos_token_id"] = bos }
        if let eos = c.eosTokenId ?? tokenizer.eosId.map(Int.init) { object["eos_token_id"] = eos }
        if let pad = tokenizer.padId { object["pad_token_id"] = Int(pad) }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The tokenizer files: copied from an HF directory, or written from the tokenizer.
    static func tokenizerFiles(_ loaded: LoadedModel, maxPositions: Int) throws -> [String: Data] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: loaded.source, isDirectory: &isDirectory), isDirectory.boolValue {
            var files: [String: Data] = [:]
            for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                         "chat_template.jinja", "added_tokens.json"] {
                if let data = FileManager.default.contents(atPath: (loaded.source as NSString).appendingPathComponent(name)) {
                    files[name] = data
                }
            }
            if files["tokenizer.json"] != nil { return files }
        }
        do {
            return ["tokenizer.json": try loaded.tokenizer.huggingFaceJSON(),
                    "tokenizer_config.json": try loaded.tokenizer.huggingFaceConfigJSON(modelMaxLength: maxPositions)]
        } catch {
            throw ModelError.invalidConfiguration(field: "tokenizer", reason: "\(error)", source: loaded.source)
        }
    }
}
