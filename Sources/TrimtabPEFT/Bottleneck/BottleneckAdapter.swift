import Foundation
import TrimtabModels
import TrimtabTensor

// Bottleneck adapters: Houlsby et al., "Parameter-Efficient Transfer Learning for NLP"
// (2019), https://arxiv.org/abs/1902.00751 (after attention and after the feed-forward
// part); Pfeiffer et al., "AdapterFusion" (2021), https://arxiv.org/abs/2005.00247
// (after the feed-forward part only). Reference: AdapterHub `adapters`
// (`methods/bottleneck.py`, `methods/modeling.py: Adapter`). Here the adapter acts on
// the part's output before the block's residual add (the `blockOutput` hook), with its
// own skip connection; AdapterHub's layer-norm placement options are not reproduced.

/// Bottleneck adapters attached to a model through ``ModelHooks/blockOutput(_:_:tape:)``.
///
/// Tensors (in `adapter_model.safetensors` and as ``trainableParameters``) are named
/// `base_model.model.<block path>.<layer>.<mh_adapter|output_adapter>.<adapter_down|adapter_up>.<weight|bias>`,
/// e.g. `base_model.model.model.layers.3.output_adapter.adapter_up.weight` `[C, r]`.
public final class BottleneckAdapter: Adapter {
    public let configuration: BottleneckConfiguration
    let layers: [BlockSite: BottleneckLayer]
    /// `model.layers` (Llama), `h` (GPT-2): where the model's blocks live.
    let blockPrefix: String
    public var isTraining = true

    /// Fresh near-identity adapters, drawn from `seed`.
    ///
    /// - Throws: ``AdapterError/modelMismatch(file:field:adapter:model:reason:)`` when the
    ///   configuration's width or layer count is not the model's.
    public init(configuration: BottleneckConfiguration, model: LanguageModel, seed: UInt64) throws {
        try Self.check(configuration, model: model)
        self.configuration = configuration
        blockPrefix = Self.blockPrefix(model)
        var rng = SplitMix64(seed: seed)
        var layers: [BlockSite: BottleneckLayer] = [:]
        for site in Self.sites(configuration) {
            layers[site] = BottleneckLayer.fresh(hidden: configuration.hiddenSize, bottleneck: configuration.bottleneckSize,
                                                 nonLinearity: configuration.nonLinearity,
                                                 scaling: Float(configuration.scaling), rng: &rng)
        }
        self.layers = layers
    }

    /// Adapters with saved weights (`tensors` by their file names).
    ///
    /// - Throws: ``AdapterError/missingTensor(file:name:)`` or
    ///   ``AdapterError/shapeMismatch(file:tensor:expected:got:)`` for a tensor that is
    ///   absent or not shaped as the configuration implies.
    public init(configuration: BottleneckConfiguration, tensors: (String) throws -> Tensor?, model: LanguageModel) throws {
        try Self.check(configuration, model: model)
        self.configuration = configuration
        blockPrefix = Self.blockPrefix(model)
        let c = configuration.hiddenSize, r = configuration.bottleneckSize
        var layers: [BlockSite: BottleneckLayer] = [:]
        for site in Self.sites(configuration) {
            let base = Self.name(site, prefix: blockPrefix)
            func load(_ suffix: String, _ shape: [Int]) throws -> Variable {
                let name = "\(base).\(suffix)"
                guard let t = try tensors(name) else {
                    throw AdapterError.missingTensor(file: AdapterFiles.weightsName, name: name)
                }
                guard t.shape == shape else {
                    throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: name, expected: shape, got: t.shape)
                }
                return Variable(t.dtype == .f32 ? t.copy() : t.converted(to: .f32), requiresGrad: true)
            }
            layers[site] = BottleneckLayer(downWeight: try load("adapter_down.weight", [r, c]),
                                           downBias: try load("adapter_down.bias", [r]),
                                           upWeight: try load("adapter_up.weight", [c, r]),
                                           upBias: try load("adapter_up.bias", [c]),
                                           nonLinearity: configuration.nonLinearity, scaling: Float(configuration.scaling))
        }
        self.layers = layers
    }

    static func check(_ configuration: BottleneckConfiguration, model: LanguageModel) throws {
        guard configuration.hiddenSize == model.hiddenSize else {
            throw AdapterError.modelMismatch(file: nil, field: "hidden_size", adapter: configuration.hiddenSize,
                                             model: model.hiddenSize, reason: "the model's hidden size")
        }
        guard configuration.layers == model.layerCount else {
            throw AdapterError.modelMismatch(file: nil, field: "num_layers", adapter: configuration.layers,
                                             model: model.layerCount, reason: "the model's layer count")
        }
    }

    /// The block sites `configuration` puts adapters at, in layer order.
    static func sites(_ configuration: BottleneckConfiguration) -> [BlockSite] {
        (0..<configuration.layers).flatMap { layer -> [BlockSite] in
            (configuration.afterAttention ? [BlockSite(layer: layer, part: .attention)] : [])
                + [BlockSite(layer: layer, part: .feedForward)]
        }
    }

    static func blockPrefix(_ model: LanguageModel) -> String {
        model.linearSites.first?.blockPrefix ?? "model.layers"
    }

    /// `base_model.model.<block prefix>.<layer>.<mh_adapter|output_adapter>`.
    static func name(_ site: BlockSite, prefix: String) -> String {
        "base_model.model.\(prefix).\(site.layer).\(site.part == .attention ? "mh_adapter" : "output_adapter")"
    }

    public var peftType: String { BottleneckConfiguration.peftType }

    public var trainableParameters: [String: Variable] {
        var out: [String: Variable] = [:]
        for (site, layer) in layers {
            let base = Self.name(site, prefix: blockPrefix)
            for (suffix, variable) in layer.tensors { out["\(base).\(suffix)"] = variable }
        }
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
        if case let .blockOutput(site) = point { return layers[site] != nil }
        return false
    }

    public func blockOutput(_ site: BlockSite, _ output: Variable, tape: Tape) -> Variable {
        guard let layer = layers[site] else { return output }
        return layer.forward(output, tape: tape)
    }
}
