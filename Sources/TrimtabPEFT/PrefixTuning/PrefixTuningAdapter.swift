import Foundation
import TrimtabModels
import TrimtabTensor

// Prefix tuning: Li & Liang, "Prefix-Tuning: Optimizing Continuous Prompts for
// Generation" (2021), https://arxiv.org/abs/2101.00190. P-tuning v2 (Liu et al. 2022,
// https://arxiv.org/abs/2110.07602) is the same method without the projection.
// Reference: peft `tuners/prefix_tuning/model.py` and `PeftModel.get_prompt`, which views
// the rows `[P, L·2·C']` as (B, P, L·2, H, D), permutes them to (L·2, B, H, P, D) and
// splits them in pairs: layer l's key is slice 2l, its value slice 2l + 1.

/// Prefix tuning attached to a model: extra key/value rows in every attention layer.
///
/// The rows of all layers are computed once per forward pass (on the call for layer 0)
/// and handed out per layer as `[1, P, H, D]` views shared by every batch row.
public final class PrefixTuningAdapter: Adapter {
    public private(set) var configuration: PrefixTuningConfiguration
    let encoder: PrefixEncoder
    /// Whether the encoder trains (false for a loaded adapter with a projection).
    private let trainable: Bool
    public var isTraining = true
    private var cache: PrefixCache?

    /// A fresh encoder with PyTorch's default initialisation drawn from `seed`.
    ///
    /// - Throws: ``AdapterError/modelMismatch(file:field:adapter:model:reason:)`` when the
    ///   configuration's layers, heads or `token_dim` do not fit `model`.
    public init(configuration: PrefixTuningConfiguration, model: LanguageModel, seed: UInt64) throws {
        try Self.check(configuration, model: model)
        self.configuration = configuration
        encoder = try PrefixEncoder(configuration: configuration, seed: seed)
        trainable = true
    }

    /// The saved rows `[P, L·2·C']` (a loaded PEFT adapter). Without a projection the
    /// rows are the trainable table itself; with one they are fixed (PEFT cannot invert
    /// the projection either).
    public init(configuration: PrefixTuningConfiguration, prefix: Tensor, model: LanguageModel) throws {
        try Self.check(configuration, model: model)
        let s = configuration.settings
        let expected = [s.virtualTokens, configuration.geometry.layers * 2 * s.tokenDim]
        guard prefix.shape == expected else {
            throw AdapterError.shapeMismatch(file: AdapterFiles.weightsName, tensor: AdapterFiles.promptTensorName,
                                             expected: expected, got: prefix.shape)
        }
        self.configuration = configuration
        trainable = !configuration.prefixProjection
        encoder = PrefixEncoder(table: prefix.dtype == .f32 ? prefix : prefix.converted(to: .f32), trainable: trainable)
    }

    static func check(_ configuration: PrefixTuningConfiguration, model: LanguageModel) throws {
        let s = configuration.settings
        let (layers, heads, headDim) = configuration.geometry
        guard layers == model.layerCount else {
            throw AdapterError.modelMismatch(file: nil, field: "num_layers", adapter: layers, model: model.layerCount,
                                             reason: "the model's layer count")
        }
        guard heads == model.kvHeadCount else {
            throw AdapterError.modelMismatch(file: nil, field: "num_attention_heads", adapter: heads,
                                             model: model.kvHeadCount, reason: "the model's key/value head count")
        }
        guard headDim * heads == s.tokenDim, headDim == model.headDim else {
            throw AdapterError.modelMismatch(file: nil, field: "token_dim", adapter: s.tokenDim,
                                             model: model.kvHeadCount * model.headDim,
                                             reason: "the model's key/value width (kv heads × head dim)")
        }
    }

    public var peftType: String { PrefixTuningConfiguration.peftType }

    /// `embedding.weight` and, with a projection, `transform.0.*` and `transform.2.*`;
    /// empty for a loaded adapter with a projection.
    public var trainableParameters: [String: Variable] { trainable ? encoder.parameters : [:] }

    public func exportedTensors() -> [String: Tensor] {
        [AdapterFiles.promptTensorName: encoder.forward(tape: Tape(recording: false)).value.copy()]
    }

    public func encodedConfiguration() throws -> Data {
        try ConfigurationJSON.encode(configuration)
    }

    // MARK: - ModelHooks

    public func steers(_ point: HookPoint) -> Bool {
        if case .attentionPrefix = point { return true }
        return false
    }

    public func attentionPrefix(layer: Int, batchSize: Int, tape: Tape) -> AttentionPrefix? {
        if layer == 0 || cache?.tape !== tape {
            cache = PrefixCache(tape: tape, prefixes: prefixes(tape: tape))
        }
        guard let prefixes = cache?.prefixes, layer < prefixes.count else { return nil }
        return prefixes[layer]
    }

    /// Key and value `[1, P, H, D]` of every layer.
    func prefixes(tape: Tape) -> [AttentionPrefix] {
        let p = configuration.settings.virtualTokens
        let (layers, heads, headDim) = configuration.geometry
        // Row p of the table holds (L·2, H, D); as a table of P·L·2 rows of width H·D,
        // layer l's key for virtual token p is row p·2L + 2l and its value the next row.
        let rows = tape.reshape(encoder.forward(tape: tape), [p * 2 * layers, heads * headDim])
        return (0..<layers).map { l in
            func pick(_ slot: Int) -> Variable {
                let ids = (0..<p).map { Int32($0 * 2 * layers + 2 * l + slot) }
                return tape.reshape(tape.embedding(rows, ids: ids, shape: [1, p]), [1, p, heads, headDim])
            }
            return AttentionPrefix(key: pick(0), value: pick(1))
        }
    }
}

/// The prefixes of the current forward pass, tied to its tape (held weakly).
private final class PrefixCache {
    weak var tape: Tape?
    let prefixes: [AttentionPrefix]

    init(tape: Tape, prefixes: [AttentionPrefix]) {
        self.tape = tape
        self.prefixes = prefixes
    }
}
