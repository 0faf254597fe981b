import TrimtabTensor

/// How one decoder forward pass lays out its sequence, shared by every architecture:
/// the virtual tokens a method prepends, the token mask over `[virtual | real]`, each
/// layer's attention prefix, the positions, and the attention key mask.
///
/// Positions count as transformers does: from 0 over virtual and real tokens, after the
/// cached ones and after valid prefix rows (which act as a cache); padding takes the
/// position the next real token would have, so a padded row computes exactly what it
/// would alone.
struct SequenceLayout {
    /// `[B, V + T, C]` after the input-embedding hook.
    let embeddings: Variable
    let virtualCount: Int
    /// `V + T`.
    let length: Int
    /// `B × (V + T)`, 1 for real and virtual tokens in use.
    let tokenMask: [UInt8]
    /// Per layer, the method's extra key/value rows.
    let prefixes: [AttentionPrefix?]
    /// `B × (V + T)` positions.
    let positions: [Int32]
    /// Cached positions followed by this call's; nil when every key is valid.
    let keyMask: [UInt8]?

    init(batch: TokenBatch, tokenEmbeddings: Variable, layerCount: Int, tape: Tape, hooks: ModelHooks?,
         cache: KVCache?) {
        let b = batch.batchSize
        var x = tokenEmbeddings
        var virtualCount = 0
        var virtualMask: [UInt8] = []
        // Virtual tokens go in front of a sequence once, not in front of each decode step.
        if let hooks, (cache?.length ?? 0) == 0 {
            let edited = hooks.inputEmbeddings(x, batch: batch, tape: tape)
            x = edited.embeddings
            virtualCount = edited.virtualCount
            virtualMask = edited.virtualMask ?? [UInt8](repeating: 1, count: b * virtualCount)
        }
        let t = virtualCount + batch.length
        var tokenMask = [UInt8](repeating: 0, count: b * t)
        for row in 0..<b {
            for j in 0..<virtualCount { tokenMask[row * t + j] = virtualMask[row * virtualCount + j] }
            for j in 0..<batch.length { tokenMask[row * t + virtualCount + j] = batch.mask[row * batch.length + j] }
        }
        let prefixes = (0..<layerCount).map { hooks?.attentionPrefix(layer: $0, batchSize: b, tape: tape) }
        var positions = [Int32](repeating: 0, count: b * t)
        for row in 0..<b {
            var next: Int32 = cache?.nextPosition[row] ?? 0
            if let prefix = prefixes.first ?? nil {
                let p = prefix.key.shape[1]
                if let mask = prefix.mask {
                    next += Int32(mask[(row * p)..<(row * p + p)].reduce(0) { $0 + Int($1) })
                } else {
                    next += Int32(p)
                }
            }
            for j in 0..<t {
                positions[row * t + j] = next
                if tokenMask[row * t + j] != 0 { next += 1 }
            }
        }
        let keyMask = cache?.keyMask(appending: tokenMask, count: t) ?? tokenMask
        self.embeddings = x
        self.virtualCount = virtualCount
        self.length = t
        self.tokenMask = tokenMask
        self.prefixes = prefixes
        self.positions = positions
        self.keyMask = keyMask.contains(0) ? keyMask : nil
    }

    /// The attention options of `layer`: causal, the key mask, the layer's prefix.
    func attentionOptions(layer: Int) -> AttentionOptions {
        var options = AttentionOptions()
        options.causal = true
        options.keyMask = keyMask
        if let prefix = prefixes[layer] {
            options.prefixKey = prefix.key
            options.prefixValue = prefix.value
            options.prefixMask = prefix.mask
        }
        return options
    }
}
