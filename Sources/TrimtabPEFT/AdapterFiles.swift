#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TrimtabIO
import TrimtabModels
import TrimtabTensor

/// Reads and writes adapter directories in Hugging Face PEFT's format:
/// `adapter_config.json` and `adapter_model.safetensors` (metadata `{"format": "pt"}`),
/// plus Trimtab's `trimtab_config.json` (``AdapterExtras``), which PEFT never reads.
///
/// ```swift
/// try AdapterFiles.save(adapter, to: URL(fileURLWithPath: "out/adapter"), extras: nil)
/// let (loaded, extras) = try AdapterFiles.load(from: URL(fileURLWithPath: "out/adapter"), model: model)
/// ```
/// Python loads the same directory with `PeftModel.from_pretrained(model, "out/adapter")`.
public enum AdapterFiles {
    public static let configurationName = "adapter_config.json"
    public static let weightsName = "adapter_model.safetensors"
    public static let extrasName = "trimtab_config.json"
    /// The one tensor of every prompt-learning adapter.
    public static let promptTensorName = "prompt_embeddings"

    /// Writes `adapter` (and `extras`) to `directory`.
    ///
    /// The files are written into a temporary directory beside `directory` first. A new
    /// directory then appears in one rename; an existing one has each file replaced by a
    /// rename, so a reader sees whole files, old or new, never a partial one (a stale
    /// `trimtab_config.json` is removed when `extras` is `nil`).
    ///
    /// - Throws: ``AdapterError/writeFailed(path:reason:)`` or the writer's
    ///   `CheckpointError`.
    public static func save(_ adapter: Adapter, to directory: URL, extras: AdapterExtras?) throws {
        let fm = FileManager.default
        let target = directory.standardizedFileURL
        let parent = target.deletingLastPathComponent()
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw AdapterError.writeFailed(path: parent.path, reason: "\(error.localizedDescription)")
        }
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp")
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw AdapterError.writeFailed(path: staging.path, reason: "\(error.localizedDescription)")
        }
        defer { try? fm.removeItem(at: staging) }

        try SafetensorsWriter.write(adapter.exportedTensors(), metadata: ["format": "pt"],
                                    to: staging.appendingPathComponent(weightsName))
        var files = [weightsName, configurationName]
        try write(try adapter.encodedConfiguration(), to: staging.appendingPathComponent(configurationName))
        if let extras {
            try write(try ConfigurationJSON.encode(extras), to: staging.appendingPathComponent(extrasName))
            files.append(extrasName)
        }

        var isDirectory: ObjCBool = false
        if !fm.fileExists(atPath: target.path, isDirectory: &isDirectory) {
            if rename(staging.path, target.path) == 0 { return }
            throw AdapterError.writeFailed(path: target.path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        guard isDirectory.boolValue else {
            throw AdapterError.writeFailed(path: target.path, reason: "exists and is not a directory")
        }
        for name in files {
            let from = staging.appendingPathComponent(name).path, to = target.appendingPathComponent(name).path
            guard rename(from, to) == 0 else {
                throw AdapterError.writeFailed(path: to, reason: "rename: \(String(cString: strerror(errno)))")
            }
        }
        if extras == nil { unlink(target.appendingPathComponent(extrasName).path) }
    }

    /// Loads the adapter in `directory` for `model`, dispatching on `peft_type`.
    ///
    /// Prompt tuning, prefix tuning without projection, LoRA/DoRA and (IA)³ load
    /// trainable; P-tuning and prefix tuning with projection load as fixed prompts (PEFT
    /// saves only their encoders' output).
    ///
    /// - Returns: the adapter and the `trimtab_config.json` extras, if present.
    /// - Throws: ``AdapterError`` naming the file and field or tensor: a missing file,
    ///   an unsupported `peft_type`, a missing tensor, a shape that does not follow from
    ///   the configuration, or a configuration made for another model.
    public static func load(from directory: URL, model: LanguageModel) throws -> (Adapter, AdapterExtras?) {
        let configURL = directory.appendingPathComponent(configurationName)
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw AdapterError.missingFile(path: configURL.path, hint: "is this a PEFT adapter directory?")
        }
        let weightsURL = directory.appendingPathComponent(weightsName)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            let hint = FileManager.default.fileExists(atPath: directory.appendingPathComponent("adapter_model.bin").path)
                ? "only adapter_model.bin (a pickle) is there; re-save it with safetensors (PEFT's default)"
                : "the adapter's weights are not in the directory"
            throw AdapterError.missingFile(path: weightsURL.path, hint: hint)
        }
        let decoder = JSONDecoder()
        let adapter: Adapter
        do {
            let header: Header
            do {
                header = try decoder.decode(Header.self, from: data)
            } catch let error as AdapterError {
                throw error
            } catch {
                throw AdapterError.invalidConfiguration(file: nil, field: "(file)", reason: "is not a JSON object: \(error)")
            }
            let weights = try SafetensorsFile(url: weightsURL)
            func prompt() throws -> Tensor {
                guard weights.contains(promptTensorName) else {
                    throw AdapterError.missingTensor(file: weightsURL.path, name: promptTensorName)
                }
                return try weights.tensor(promptTensorName, as: .f32)
            }
            switch header.peftType {
            case PromptTuningConfiguration.peftType:
                let configuration = try decoder.decode(PromptTuningConfiguration.self, from: data)
                adapter = try PromptTuningAdapter(configuration: configuration, prompt: try prompt(), model: model)
            case PTuningConfiguration.peftType:
                let configuration = try decoder.decode(PTuningConfiguration.self, from: data)
                adapter = try PTuningAdapter(configuration: configuration, prompt: try prompt(), model: model)
            case PrefixTuningConfiguration.peftType:
                let configuration = try decoder.decode(PrefixTuningConfiguration.self, from: data)
                adapter = try PrefixTuningAdapter(configuration: configuration, prefix: try prompt(), model: model)
            case BottleneckConfiguration.peftType:
                let configuration = try decoder.decode(BottleneckConfiguration.self, from: data)
                adapter = try BottleneckAdapter(configuration: configuration, tensors: { name in
                    weights.contains(name) ? try weights.tensor(name, as: .f32) : nil
                }, model: model)
            case let type where BaseWeightMethod(peftType: type) != nil:
                let configuration = try decoder.decode(BaseWeightConfiguration.self, from: data)
                var tensors: [String: Tensor] = [:]
                for name in weights.tensorNames { tensors[name] = try weights.tensor(name, as: .f32) }
                adapter = try BaseWeightAdapter(configuration: configuration, tensors: tensors, model: model)
            case LoRAConfiguration.peftType:
                let configuration = try decoder.decode(LoRAConfiguration.self, from: data)
                adapter = try LoRAAdapter(configuration: configuration, tensors: try allTensors(weights), model: model)
            case IA3Configuration.peftType:
                let configuration = try decoder.decode(IA3Configuration.self, from: data)
                adapter = try IA3Adapter(configuration: configuration, tensors: try allTensors(weights), model: model)
            default:
                throw AdapterError.unsupportedMethod(file: configURL.path, peftType: header.peftType)
            }
        } catch let error as AdapterError {
            switch error {
            case let .shapeMismatch(file, tensor, expected, got) where file == weightsName:
                throw AdapterError.shapeMismatch(file: weightsURL.path, tensor: tensor, expected: expected, got: got)
            case let .missingTensor(file, name) where file == weightsName:
                throw AdapterError.missingTensor(file: weightsURL.path, name: name)
            default:
                throw error.inFile(configURL.path)
            }
        }
        return (adapter, try loadExtras(directory))
    }

    /// Every tensor of `file` in f32.
    private static func allTensors(_ file: SafetensorsFile) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in file.tensorNames { out[name] = try file.tensor(name, as: .f32) }
        return out
    }

    /// `trimtab_config.json` in `directory`, or `nil` when there is none.
    public static func loadExtras(_ directory: URL) throws -> AdapterExtras? {
        let url = directory.appendingPathComponent(extrasName)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(AdapterExtras.self, from: data)
        } catch let error as AdapterError {
            throw error.inFile(url.path)
        } catch {
            throw AdapterError.invalidConfiguration(file: url.path, field: "(file)", reason: "is not a JSON object: \(error)")
        }
    }

    /// `peft_type` alone, to choose the configuration type.
    private struct Header: Decodable {
        let peftType: String

        enum CodingKeys: String, CodingKey { case peftType = "peft_type" }

        init(from decoder: Decoder) throws {
            peftType = try decoder.container(keyedBy: CodingKeys.self).required(String.self, .peftType)
        }
    }

    private static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw AdapterError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}
