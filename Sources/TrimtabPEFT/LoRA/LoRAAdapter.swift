import Foundation
import TrimtabModels
import TrimtabTensor

// LoRA: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models" (2021),
// https://arxiv.org/abs/2106.09685; rsLoRA: Kalajdzievski (2023),
// https://arxiv.org/abs/2312.03732; DoRA: Liu et al. (2024), https://arxiv.org/abs/2402.09353.
// Reference: peft `tuners/lora/{config,layer,model}.py`, `tuners/lora/dora.py`.

/// LoRA (or DoRA) on the linear layers its configuration selects.
///
/// Tensors, as PEFT saves them (`base_model.model.<module path>.…`): `lora_A.weight`
/// `[r, in]`, `lora_B.weight` `[out, r]`, DoRA's `lora_magnitude_vector` `[out]`, and
/// with `bias = all / lora_only` the trained biases (`….base_layer.bias` for wrapped
/// layers, `….bias` for others).
public final class LoRAAdapter: Adapter, MergeableAdapter {
    public private(set) var configuration: LoRAConfiguration
    /// The wrapped layers by module path.
    let layers: [String: LoRALayer]
    /// Trainable copies of base biases (bias modes), by module path.
    let biases: [String: Variable]
    /// `−b` of the frozen base bias for every layer in ``biases``.
    private let negatedBaseBiases: [String: Variable]
    public var isTraining = true
    /// Seeds dropout masks; advanced on every training call.
    private var dropoutSeed: UInt64

    static let namePrefix = "base_model.model."

    /// A fresh adapter with PEFT's initialisation (`init_lora_weights`): `true` —
    /// Kaiming-uniform A (bound 1/√in), zero B; `"gaussian"` — A ~ N(0, 1/r²), zero B;
    /// `false` — both as `nn.Linear` (a non-zero update from the start). DoRA's magnitude
    /// starts at the row norms of `W + s B A`.
    ///
    /// - Throws: ``AdapterError`` when nothing is selected, a scheme is not implemented,
    ///   or `bias = all` meets biases outside linear layers.
    public convenience init(configuration: LoRAConfiguration, model: LanguageModel, seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let scheme = configuration.initLoRAWeights
        guard scheme == .bool(true) || scheme == .bool(false) || scheme == .string("gaussian") else {
            throw AdapterError.invalidOption(field: "init_lora_weights",
                                             reason: "\(scheme) is not implemented (true, false or \"gaussian\")")
        }
        var c = configuration
        if c.targetModules.isAllLinear {
            c.targetModules = .names(ModuleSelection(targets: .names(model.linearSites.map(\.leafName)),
                                                     excluded: c.excludeModules, layers: c.layersToTransform,
                                                     layersPattern: c.layersPattern).sites(of: model).map(\.path))
            c.layersToTransform = nil
        }
        if c.bias == .all {
            let linearBiases = Set(model.linearSites.map { "\($0.path).bias" })
            if let other = model.parameters.keys.sorted().first(where: { $0.hasSuffix(".bias") && !linearBiases.contains($0) }) {
                throw AdapterError.invalidOption(field: "bias",
                                                 reason: "'all' would train \(other), which is not a linear layer's bias; "
                                                     + "use lora_only or none")
            }
        }
        try self.init(configuration: c, model: model, seed: seed) { site, r in
            let inF = site.inFeatures, outF = site.outFeatures
            switch scheme {
            case .string:
                let a = Initializers.normal([r, inF], rng: &rng)
                for i in 0..<a.count { a.floats[i] /= Float(r) }
                return (a, Tensor(zeros: [outF, r]), nil, nil)
            case .bool(false):
                let a = Initializers.uniform([r, inF], bound: 1 / Float(inF).squareRoot(), rng: &rng)
                return (a, Initializers.uniform([outF, r], bound: 1 / Float(r).squareRoot(), rng: &rng), nil, nil)
            default:
                let a = Initializers.uniform([r, inF], bound: 1 / Float(inF).squareRoot(), rng: &rng)
                return (a, Tensor(zeros: [outF, r]), nil, nil)
            }
        }
    }

    /// An adapter with the tensors of a PEFT `adapter_model.safetensors` (names with the
    /// `base_model.model.` prefix).
    ///
    /// - Throws: ``AdapterError`` for a missing tensor, a shape that does not follow from
    ///   the configuration and the model, or a tensor the configuration does not explain.
    public convenience init(configuration: LoRAConfiguration, tensors: [String: Tensor], model: LanguageModel) throws {
        var used = Set<String>()
        func take(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let t = tensors[name] else {
                throw AdapterError.missingTensor(file: AdapterFiles.weightsName, name: name)
            }
            guard t.shape == shape else {
                throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: name, expected: shape, got: t.shape)
            }
            used.insert(name)
            return t.dtype == .f32 ? t.copy() : t.converted(to: .f32)
        }
        try self.init(configuration: configuration, model: model, seed: 0) { site, r in
            let p = Self.namePrefix + site.path
            let a = try take("\(p).lora_A.weight", [r, site.inFeatures])
            let b = try take("\(p).lora_B.weight", [site.outFeatures, r])
            var magnitude: Tensor?
            if configuration.useDoRA {
                let name = "\(p).lora_magnitude_vector"
                // Some writers keep the `[out, 1]`-shaped vector; accept both.
                if let t = tensors[name], t.shape == [site.outFeatures, 1] {
                    magnitude = try take(name, [site.outFeatures, 1]).reshaped([site.outFeatures])
                } else {
                    magnitude = try take(name, [site.outFeatures])
                }
            }
            return (a, b, magnitude, nil)
        } bias: { path, wrapped, shape in
            let name = Self.namePrefix + path + (wrapped ? ".base_layer.bias" : ".bias")
            return tensors[name] == nil ? nil : try take(name, shape)
        }
        if let extra = tensors.keys.sorted().first(where: { !used.contains($0) }) {
            throw AdapterError.invalidConfiguration(
                file: AdapterFiles.weightsName, field: extra,
                reason: "is a tensor this configuration does not use (target_modules, layers_to_transform, use_dora or bias differ?)")
        }
    }

    private init(configuration: LoRAConfiguration, model: LanguageModel, seed: UInt64,
                 tensors: (LinearSite, Int) throws -> (Tensor, Tensor, Tensor?, Tensor?),
                 bias: (String, Bool, [Int]) throws -> Tensor? = { _, _, _ in nil }) throws {
        let sites = configuration.selection.sites(of: model)
        guard !sites.isEmpty else {
            let names = Set(model.linearSites.map(\.leafName)).sorted().joined(separator: ", ")
            throw AdapterError.invalidConfiguration(file: nil, field: "target_modules",
                                                    reason: "selects none of the model's linear layers (\(names))")
        }
        var layers: [String: LoRALayer] = [:]
        for site in sites {
            guard let weight = model.parameters["\(site.path).weight"] else {
                throw AdapterError.invalidConfiguration(file: nil, field: "target_modules",
                                                        reason: "selects \(site.path), whose weight the model lacks")
            }
            let r = configuration.rank(for: site.path), s = configuration.scaling(for: site.path)
            let (a, b, loadedMagnitude, _) = try tensors(site, r)
            let name = Self.namePrefix + site.path
            var magnitude: Variable?
            if configuration.useDoRA {
                let m = loadedMagnitude ?? {
                    let norms = LoRALayer.rowNorms(weight: weight.value, a: a, b: b, scaling: s)
                    let t = Tensor(zeros: [site.outFeatures])
                    for i in 0..<norms.count { t.floats[i] = norms[i] }
                    return t
                }()
                magnitude = Variable(m, requiresGrad: true, name: "\(name).lora_magnitude_vector")
            }
            layers[site.path] = LoRALayer(
                site: site, a: Variable(a, requiresGrad: true, name: "\(name).lora_A.weight"),
                b: Variable(b, requiresGrad: true, name: "\(name).lora_B.weight"), magnitude: magnitude,
                scaling: s, baseWeight: weight, baseBias: model.parameters["\(site.path).bias"])
        }
        var biases: [String: Variable] = [:], negated: [String: Variable] = [:]
        if configuration.bias != .none {
            for site in model.linearSites where configuration.bias == .all || layers[site.path] != nil {
                guard let base = model.parameters["\(site.path).bias"] else { continue }
                let wrapped = layers[site.path] != nil
                let suffix = wrapped ? ".base_layer.bias" : ".bias"
                let value = try bias(site.path, wrapped, base.shape)
                    ?? (base.value.dtype == .f32 ? base.value.copy() : base.value.converted(to: .f32))
                biases[site.path] = Variable(value, requiresGrad: true, name: Self.namePrefix + site.path + suffix)
                let minus = base.value.converted(to: .f32)
                let neg = Tensor(zeros: minus.shape)
                for i in 0..<neg.count { neg.floats[i] = -minus.floats[i] }
                negated[site.path] = Variable(neg)
            }
        }
        self.configuration = configuration
        self.layers = layers
        self.biases = biases
        negatedBaseBiases = negated
        dropoutSeed = seed ^ 0x10AA_D50F
    }

    public var peftType: String { LoRAConfiguration.peftType }

    /// Every tensor by its PEFT name (`base_model.model.…lora_A.weight`).
    public var trainableParameters: [String: Variable] {
        var out: [String: Variable] = [:]
        for layer in layers.values {
            for v in [layer.a, layer.b] + (layer.magnitude.map { [$0] } ?? []) { out[v.name ?? ""] = v }
        }
        for v in biases.values { out[v.name ?? ""] = v }
        return out
    }

    public func exportedTensors() -> [String: Tensor] {
        trainableParameters.mapValues { $0.value.copy() }
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    // MARK: - ModelHooks

    public func steers(_ point: HookPoint) -> Bool {
        guard case let .linearOutput(site) = point else { return false }
        return layers[site.path] != nil || biases[site.path] != nil
    }

    public func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable {
        let path = site.path
        var base = base
        var currentBias = layers[path]?.baseBias
        if let bias = biases[path], let negated = negatedBaseBiases[path] {
            base = tape.addBias(tape.addBias(base, negated), bias)
            currentBias = bias
        }
        guard let layer = layers[path] else { return base }
        let p = isTraining ? Float(configuration.dropout) : 0
        if p > 0 { dropoutSeed &+= 0x9E37_79B9_7F4A_7C15 }
        return layer.forward(input: input, base: base, currentBias: currentBias, dropout: p, seed: dropoutSeed,
                             tape: tape)
    }

    // MARK: - MergeableAdapter

    public func mergedWeights() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (path, layer) in layers { out["\(path).weight"] = layer.mergedWeight() }
        for (path, bias) in biases { out["\(path).bias"] = bias.value.copy() }
        return out
    }
}
