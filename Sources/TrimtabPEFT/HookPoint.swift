import TrimtabModels

/// One place of a forward pass where ``ModelHooks`` lets a method steer the model.
///
/// ``Adapter/steers(_:)`` answers, per hook point, whether an adapter does anything
/// there; ``MixedAdapterHooks`` uses it to skip gathering a sub-batch for an adapter whose
/// hook would return its input unchanged (a soft prompt at a linear layer, say).
public enum HookPoint: Hashable, Sendable {
    /// ``ModelHooks/inputEmbeddings(_:batch:tape:)``.
    case inputEmbeddings
    /// ``ModelHooks/attentionPrefix(layer:batchSize:tape:)`` of one layer.
    case attentionPrefix(layer: Int)
    /// ``ModelHooks/linearInput(_:_:tape:)`` of one linear layer.
    case linearInput(LinearSite)
    /// ``ModelHooks/linearOutput(_:input:base:tape:)`` of one linear layer.
    case linearOutput(LinearSite)
    /// ``ModelHooks/blockOutput(_:_:tape:)`` of one block part.
    case blockOutput(BlockSite)
}
