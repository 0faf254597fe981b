import TrimtabModels
import TrimtabTensor

/// An adapter whose effect can be folded into the base model's weights (LoRA, DoRA,
/// (IA)³), as PEFT's `merge_and_unload` does.
public protocol MergeableAdapter: Adapter {
    /// The base tensors the adapter changes, by their Hugging Face names
    /// (`model.layers.3.self_attn.q_proj.weight`, `….bias`), folded and in f32. A model
    /// whose weights are the base model's with these replaced computes the adapted
    /// model's outputs.
    func mergedWeights() -> [String: Tensor]
}
