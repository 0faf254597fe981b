import TrimtabTensor

/// What every causal language model offers the tuners, the trainer and the server.
///
/// A model exposes its frozen parameters by checkpoint name and a forward pass that
/// calls ``ModelHooks`` at fixed places; it never learns which PEFT method is attached.
public protocol LanguageModel: AnyObject {
    /// Architecture name as the checkpoint declares it (`llama`, `qwen2`, …).
    var architecture: String { get }
    var vocabularySize: Int { get }
    var hiddenSize: Int { get }
    var layerCount: Int { get }
    var headCount: Int { get }
    var kvHeadCount: Int { get }
    var headDim: Int { get }
    /// Every weight, by its Hugging Face name (`model.layers.0.self_attn.q_proj.weight`).
    var parameters: [String: Variable] { get }
    /// Every linear layer a method can wrap.
    var linearSites: [LinearSite] { get }

    /// Final hidden states `[B, V + T, C]` for `batch`, where `V` virtual tokens may be
    /// prepended by `hooks`. With a `cache`, the batch continues the cached sequence
    /// (virtual tokens are prepended only on the first call).
    func hiddenStates(_ batch: TokenBatch, tape: Tape, hooks: ModelHooks?, cache: KVCache?) -> (hidden: Variable, virtualCount: Int)

    /// The `[vocab, C]` output projection: the tied embedding table or the separate head.
    var outputProjection: Variable { get }

    /// An empty cache for generation.
    func makeCache(batchSize: Int, capacity: Int) -> KVCache
}

extension LanguageModel {
    /// Projects hidden states `[..., C]` to vocabulary logits `[..., vocab]`.
    public func logits(_ hidden: Variable, tape: Tape) -> Variable {
        tape.linear(hidden, outputProjection)
    }
}
