import Foundation
import TrimtabModels
import TrimtabTensor

// (IA)³: Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
// In-Context Learning" (2022), https://arxiv.org/abs/2205.05638.
// Reference: peft `tuners/ia3/{config,layer,model}.py`.

/// (IA)³ on the linear layers its configuration selects: keys, values and the
/// feed-forward input by default.
///
/// Tensors, as PEFT saves them: `base_model.model.<module path>.ia3_l`, `[out, 1]` for
/// output scaling and `[1, in]` for `feedforward_modules`.
public final class IA3Adapter: Adapter, MergeableAdapter {
    public private(set) var configuration: IA3Configuration
    /// The wrapped layers by module path.
    let layers: [String: IA3Layer]
    public var isTraining = true

    static let namePrefix = "base_model.model."

    /// A fresh adapter: every vector 1 (`init_ia3_weights = true`), so it starts as the
    /// base model.
    public convenience init(configuration: IA3Configuration, model: LanguageModel) throws {
        try self.init(configuration: configuration, model: model) { site, shape in
            let t = Tensor(zeros: shape)
            t.fill(1)
            return t
        }
    }

    /// An adapter with the tensors of a PEFT `adapter_model.safetensors`.
    ///
    /// - Throws: ``AdapterError`` for a missing tensor, a wrong shape or a tensor the
    ///   configuration does not explain.
    public convenience init(configuration: IA3Configuration, tensors: [String: Tensor], model: LanguageModel) throws {
        var used = Set<String>()
        try self.init(configuration: configuration, model: model) { site, shape in
            let name = Self.namePrefix + site.path + ".ia3_l"
            guard let t = tensors[name] else { throw AdapterError.missingTensor(file: AdapterFiles.weightsName, name: name) }
            guard t.shape == shape else {
                throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: name, expected: shape, got: t.shape)
            }
            used.insert(name)
            return t.dtype == .f32 ? t.copy() : t.converted(to: .f32)
        }
        if let extra = tensors.keys.sorted().first(where: { !used.contains($0) }) {
            throw AdapterError.invalidConfiguration(file: AdapterFiles.weightsName, field: extra,
                                                    reason: "is a tensor this configuration does not use (target_modules differ?)")
        }
    }

    private init(configuration: IA3Configuration, model: LanguageModel,
                 vector: (LinearSite, [Int]) throws -> Tensor) throws {
        let sites = configuration.selection.sites(of: model)
        guard !sites.isEmpty else {
            let names = Set(model.linearSites.map(\.leafName)).sorted().joined(separator: ", ")
            throw AdapterError.invalidConfiguration(file: nil, field: "target_modules",
                                                    reason: "selects none of the model's linear layers (\(names))")
        }
        var layers: [String: IA3Layer] = [:]
        for site in sites {
            guard let weight = model.parameters["\(site.path).weight"] else {
                throw AdapterError.invalidConfiguration(file: nil, field: "target_modules",
                                                        reason: "selects \(site.path), whose weight the model lacks")
            }
            let feedforward = configuration.feedforwardModules.matches(site.path)
            let value = try vector(site, IA3Layer.shape(site, feedforward: feedforward))
            layers[site.path] = IA3Layer(
                site: site, vector: Variable(value, requiresGrad: true, name: Self.namePrefix + site.path + ".ia3_l"),
                isFeedforward: feedforward, baseWeight: weight, baseBias: model.parameters["\(site.path).bias"])
        }
        self.configuration = configuration
        self.layers = layers
    }

    public var peftType: String { IA3Configuration.peftType }

    public var trainableParameters: [String: Variable] {
        Dictionary(uniqueKeysWithValues: layers.values.map { ($0.vector.name ?? "", $0.vector) })
    }

    public func exportedTensors() -> [String: Tensor] {
        trainableParameters.mapValues { $0.value.copy() }
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    // MARK: - ModelHooks

    public func steers(_ point: HookPoint) -> Bool {
        switch point {
        case let .linearInput(site), let .linearOutput(site): return layers[site.path] != nil
        default: return false
        }
    }

    public func linearInput(_ site: LinearSite, _ input: Variable, tape: Tape) -> Variable {
        layers[site.path]?.input(input, tape: tape) ?? input
    }

    public func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable {
        layers[site.path]?.output(base, tape: tape) ?? base
    }

    // MARK: - MergeableAdapter

    public func mergedWeights() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (path, layer) in layers {
            let merged = layer.merged()
            out["\(path).weight"] = merged.weight
            if let b = merged.bias { out["\(path).bias"] = b }
        }
        return out
    }
}
