import Foundation
import TrimtabModels
import TrimtabTensor

// Base-weight methods: BitFit (Ben Zaken et al. 2022, https://arxiv.org/abs/2106.10199),
// LayerNorm tuning (PEFT `tuners/ln_tuning/`: a trainable copy of each norm layer, saved as
// `base_model.model.<module>.ln_tuning_layers.<weight|bias>`), full fine-tuning.

/// A base-weight method attached to a model: its trainable parameters are the model's own
/// variables (selected at load time, see ``BaseWeightMethod/trainable(_:)``) and its hooks
/// are the identity.
///
/// Loading one from files writes its tensors into the model's variables, so the model
/// itself becomes the adapted model: such an adapter cannot share a mixed-adapter batch
/// with others. ``setEnabled(_:)`` swaps the base values back in (BitFit and LN tuning
/// keep a copy of them; full fine-tuning does not, to save memory). As a
/// ``MergeableAdapter`` its merged weights are the trained ones, so `trimtab merge` turns
/// any of them into a Hugging Face model directory.
public final class BaseWeightAdapter: MergeableAdapter {
    public let method: BaseWeightMethod
    public private(set) var configuration: BaseWeightConfiguration
    /// The model's variables this method trains, by checkpoint name.
    let weights: [String: Variable]
    /// The base model's values of ``weights`` (not for full fine-tuning).
    private var baseValues: [String: Tensor]?
    private var adaptedValues: [String: Tensor]?
    public var isTraining = true
    public private(set) var isEnabled = true

    /// The trainable weights of a model loaded with `method.trainable` as its predicate.
    ///
    /// - Throws: ``AdapterError/invalidOption(field:reason:)`` when the model has no
    ///   weight of the kind (a Llama model has no biases for BitFit).
    public init(method: BaseWeightMethod, model: LanguageModel, modelName: String? = nil,
                configuration: BaseWeightConfiguration? = nil) throws {
        let selected = model.parameters.filter { method.trainable($0.key) && $0.value.requiresGrad }
        guard !selected.isEmpty else {
            let name = modelName ?? "this \(model.architecture) model"
            switch method {
            case .bitfit:
                throw AdapterError.invalidOption(
                    field: "method", reason: "bitfit: \(name) has no bias terms; bitfit needs a model with biases such as GPT-2 or Qwen2")
            case .lnTuning, .full:
                throw AdapterError.invalidOption(
                    field: "method", reason: "\(method.rawValue): no weight of \(name) is trainable; load the model with "
                        + "BaseWeightMethod.\(method).trainable as the trainable predicate")
            }
        }
        self.method = method
        weights = selected
        var c = configuration ?? BaseWeightConfiguration(method: method)
        if method == .lnTuning && configuration == nil {
            let present = Set(selected.keys.compactMap { BaseWeightMethod.module(of: $0)?.split(separator: ".").last })
            c.targetModules = BaseWeightMethod.normModules.filter { present.contains(Substring($0)) }
        }
        self.configuration = c
        if method != .full { baseValues = selected.mapValues { $0.value.copy() } }
    }

    /// A saved adapter: `tensors` (by file name) are written into `model`'s variables.
    ///
    /// - Throws: ``AdapterError/missingTensor(file:name:)`` when the file names a weight
    ///   the model does not have, ``AdapterError/shapeMismatch(file:tensor:expected:got:)``
    ///   for a tensor of another shape.
    public init(configuration: BaseWeightConfiguration, tensors: [String: Tensor], model: LanguageModel) throws {
        guard let method = BaseWeightMethod(peftType: configuration.peftType) else {
            throw AdapterError.invalidConfiguration(file: nil, field: "peft_type", reason: "is '\(configuration.peftType)'")
        }
        self.method = method
        self.configuration = configuration
        var selected: [String: Variable] = [:], base: [String: Tensor] = [:]
        for (fileName, tensor) in tensors {
            let name = Self.weightName(fileName, method: method)
            guard let variable = model.parameters[name] else {
                throw AdapterError.missingTensor(file: AdapterFiles.weightsName,
                                                 name: "\(name) (from \(fileName)) in the model")
            }
            guard variable.shape == tensor.shape else {
                throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: fileName, expected: variable.shape,
                                                 got: tensor.shape)
            }
            if method != .full { base[name] = variable.value.copy() }
            variable.value = tensor.dtype == .f32 ? tensor.copy() : tensor.converted(to: .f32)
            selected[name] = variable
        }
        weights = selected
        baseValues = method == .full ? nil : base
    }

    /// Sets `task_type` and `base_model_name_or_path` of the configuration.
    func withTask(_ taskType: String?, base: String?) -> BaseWeightAdapter {
        configuration.taskType = taskType
        configuration.baseModelNameOrPath = base
        return self
    }

    /// The name in `adapter_model.safetensors` of the model weight `name`.
    static func fileName(_ name: String, method: BaseWeightMethod) -> String {
        switch method {
        case .lnTuning:
            guard let module = BaseWeightMethod.module(of: name) else { return name }
            return "base_model.model.\(module).ln_tuning_layers.\(name.dropFirst(module.count + 1))"
        case .bitfit: return "base_model.model.\(name)"
        case .full: return name
        }
    }

    /// The model weight a file tensor holds (the inverse of ``fileName(_:method:)``).
    static func weightName(_ fileName: String, method: BaseWeightMethod) -> String {
        var name = fileName
        if name.hasPrefix("base_model.model.") { name.removeFirst("base_model.model.".count) }
        return name.replacingOccurrences(of: ".ln_tuning_layers.", with: ".")
    }

    public var peftType: String { method.peftType }

    public var trainableParameters: [String: Variable] { weights }

    public func exportedTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, v) in weights { out[Self.fileName(name, method: method)] = v.value.copy() }
        return out
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    /// Puts the base model's values back (`false`) or the adapted ones (`true`).
    ///
    /// - Throws: ``AdapterError/invalidOption(field:reason:)`` for full fine-tuning, which
    ///   keeps no copy of the base weights.
    public func setEnabled(_ enabled: Bool) throws {
        guard enabled != isEnabled else { return }
        guard let baseValues else {
            throw AdapterError.invalidOption(field: "enabled", reason: "full fine-tuning keeps no copy of the base weights")
        }
        if enabled {
            for (name, value) in adaptedValues ?? [:] { weights[name]?.value = value }
            adaptedValues = nil
        } else {
            adaptedValues = weights.mapValues { $0.value }
            for (name, value) in baseValues { weights[name]?.value = value.copy() }
        }
        isEnabled = enabled
    }

    // MARK: - MergeableAdapter

    /// The trained weights by checkpoint name (what `trimtab merge` writes into a model
    /// directory; for full fine-tuning, every weight).
    public func mergedWeights() -> [String: Tensor] {
        weights.mapValues { $0.value.copy() }
    }

    // MARK: - ModelHooks

    /// Never: the method lives in the model's weights, not in its hooks.
    public func steers(_ point: HookPoint) -> Bool { false }
}
