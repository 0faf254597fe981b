import Foundation
import TrimtabModels
import TrimtabTensor

/// A trained (or trainable) PEFT method attached to a base model.
///
/// An adapter steers the model only through ``ModelHooks``; the trainer optimises its
/// ``trainableParameters`` and saves it as a Hugging Face PEFT directory
/// (`adapter_config.json` + `adapter_model.safetensors`), plus, in a checkpoint,
/// the ``trainingState`` PEFT itself does not keep (a prompt encoder, for example).
public protocol Adapter: ModelHooks {
    /// PEFT's `peft_type` (`PROMPT_TUNING`, `P_TUNING`, `PREFIX_TUNING`, `LORA`, `IA3`, …).
    var peftType: String { get }
    /// The tensors the optimiser updates, by a stable name (the order of
    /// `trainableParameters.keys.sorted()` is the optimiser's parameter order).
    var trainableParameters: [String: Variable] { get }
    /// The tensors of `adapter_model.safetensors`, by their PEFT names
    /// (`prompt_embeddings`, `base_model.model.…lora_A.weight`), computed from the
    /// trainable parameters where the method reparameterises (P-tuning's encoder output).
    func exportedTensors() -> [String: Tensor]
    /// The `adapter_config.json` contents (PEFT's keys; Trimtab's own extras, such as
    /// the task template and label words, under keys PEFT ignores).
    func encodedConfiguration() throws -> Data
    /// Whether dropout and similar training-only behaviour is on.
    var isTraining: Bool { get set }
}
