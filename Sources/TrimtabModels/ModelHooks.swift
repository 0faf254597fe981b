import TrimtabTensor

/// A linear layer's place in a model, named as in the Hugging Face checkpoint.
///
/// `module` is the path inside a block (`self_attn.q_proj`, `mlp.down_proj`,
/// `attention.self.query` for BERT); `layer` is the block index. ``path`` is the
/// full name PEFT files use (`model.layers.3.self_attn.q_proj`).
public struct LinearSite: Hashable, Sendable, CustomStringConvertible {
    public let layer: Int
    public let module: String
    /// The prefix of block paths in this architecture (`model.layers`, `encoder.layer`, `h`).
    public let blockPrefix: String
    public let inFeatures: Int
    public let outFeatures: Int

    public init(layer: Int, module: String, blockPrefix: String, inFeatures: Int, outFeatures: Int) {
        self.layer = layer
        self.module = module
        self.blockPrefix = blockPrefix
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// The module's full name in the checkpoint.
    public var path: String { "\(blockPrefix).\(layer).\(module)" }
    /// The last path component (`q_proj`), which PEFT's `target_modules` usually names.
    public var leafName: String { module.split(separator: ".").last.map(String.init) ?? module }
    public var description: String { path }
}

/// Where a bottleneck adapter can sit: after a block's attention or its feed-forward part.
public struct BlockSite: Hashable, Sendable {
    public enum Part: String, Sendable { case attention, feedForward }
    public let layer: Int
    public let part: Part

    public init(layer: Int, part: Part) {
        self.layer = layer
        self.part = part
    }
}

/// Extra key/value rows one layer's attention attends to (prefix tuning, P-tuning v2).
public struct AttentionPrefix {
    /// `[Bp, P, kvHeads, headDim]`, Bp = batch size or 1 (shared by every row).
    public var key: Variable
    public var value: Variable
    /// Per prefix row of each batch row (`B × P`), 1 = valid; `nil` = all valid.
    public var mask: [UInt8]?

    public init(key: Variable, value: Variable, mask: [UInt8]? = nil) {
        self.key = key
        self.value = value
        self.mask = mask
    }
}

/// Input embeddings after a method has edited them.
public struct InputEmbeddings {
    /// `[B, V + T, C]`: `V` virtual tokens (possibly 0) before the `T` real ones.
    public var embeddings: Variable
    /// Number of virtual positions in front of every row.
    public var virtualCount: Int
    /// `B × virtualCount` flags, 1 where a row's virtual position is in use (rows may
    /// carry prompts of different lengths); `nil` = all in use.
    public var virtualMask: [UInt8]?

    public init(embeddings: Variable, virtualCount: Int = 0, virtualMask: [UInt8]? = nil) {
        self.embeddings = embeddings
        self.virtualCount = virtualCount
        self.virtualMask = virtualMask
    }
}

/// The seam between models and PEFT methods.
///
/// A model calls these hooks at fixed places of its forward pass and never learns which
/// method is behind them. Every hook has an identity default, so a method implements only
/// the places it steers:
/// - input embeddings: prompt tuning, P-tuning (prepend or edit rows);
/// - attention prefix: prefix tuning, P-tuning v2 (extra key/value rows per layer);
/// - linear layers, by checkpoint name: LoRA, DoRA (add to the output), (IA)³ (scale the
///   output, or the input of feed-forward projections);
/// - block outputs: bottleneck adapters.
public protocol ModelHooks: AnyObject {
    /// Edits the token embeddings `[B, T, C]` of `batch`.
    func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings
    /// Extra key/value rows for `layer`, or `nil`.
    func attentionPrefix(layer: Int, batchSize: Int, tape: Tape) -> AttentionPrefix?
    /// The input a linear layer sees (identity by default).
    func linearInput(_ site: LinearSite, _ input: Variable, tape: Tape) -> Variable
    /// A linear layer's output, given its input and the frozen layer's output.
    func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable
    /// The output of a block's attention or feed-forward part, before the residual add.
    func blockOutput(_ site: BlockSite, _ output: Variable, tape: Tape) -> Variable
}

// MARK: - Default implementations

extension ModelHooks {
    public func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
        InputEmbeddings(embeddings: embeddings)
    }

    public func attentionPrefix(layer: Int, batchSize: Int, tape: Tape) -> AttentionPrefix? { nil }

    public func linearInput(_ site: LinearSite, _ input: Variable, tape: Tape) -> Variable { input }

    public func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable { base }

    public func blockOutput(_ site: BlockSite, _ output: Variable, tape: Tape) -> Variable { output }
}
