import Foundation
import TrimtabModels
import TrimtabTensor

/// A trained (or trainable) PEFT method attached to a base model.
///
/// An adapter steers the model only through ``ModelHooks``; the trainer optimises its
/// ``trainableParameters`` and saves it as a Hugging Face PEFT directory with
/// ``AdapterFiles`` (`adapter_config.json` + `adapter_model.safetensors`). Where PEFT's
/// file drops training state (P-tuning's encoder, a prefix projection), the trainer keeps
/// ``trainableParameters`` in its own checkpoint and restores them by name.
///
/// Each method has three parts, as in PEFT: a configuration (the `adapter_config.json`
/// keys, validated), a layer or encoder (its forward pass on the tape) and the adapter
/// itself (the hooks it implements, i.e. where it attaches).
public protocol Adapter: ModelHooks {
    /// PEFT's `peft_type` (`PROMPT_TUNING`, `P_TUNING`, `PREFIX_TUNING`, `LORA`, `IA3`, …).
    var peftType: String { get }
    /// The tensors the optimiser updates, by a stable name (the order of
    /// `trainableParameters.keys.sorted()` is the optimiser's parameter order). Prompt
    /// methods use their PyTorch module's state-dict names (`embedding.weight`,
    /// `mlp_head.0.weight`, `lstm_head.weight_ih_l0`, `transform.2.bias`).
    var trainableParameters: [String: Variable] { get }
    /// The tensors of `adapter_model.safetensors`, by their PEFT names
    /// (`prompt_embeddings`, `base_model.model.…lora_A.weight`), computed from the
    /// trainable parameters where the method reparameterises (P-tuning's encoder output).
    func exportedTensors() -> [String: Tensor]
    /// The `adapter_config.json` contents: PEFT's keys only (Trimtab's own extras go to
    /// `trimtab_config.json`, see ``AdapterExtras``).
    func encodedConfiguration() throws -> Data
    /// Whether dropout and similar training-only behaviour is on.
    var isTraining: Bool { get set }
    /// Whether the adapter's hook at `point` can change anything (`false`: the hook is
    /// the identity there). Mixed-adapter batches call an adapter's hook only where this
    /// is `true`. The default, `true` everywhere, is always correct, only slower.
    func steers(_ point: HookPoint) -> Bool
}

// MARK: - Default implementations

extension Adapter {
    public func steers(_ point: HookPoint) -> Bool { true }
}
