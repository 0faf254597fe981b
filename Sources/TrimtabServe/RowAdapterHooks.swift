import TrimtabModels
import TrimtabPEFT
import TrimtabTensor

/// Builds the hooks of one batched decode step in which every row may carry a different
/// adapter (or none).
///
/// The engine asks for new hooks only when the rows of its batch change.
protocol BatchHooksFactory {
    /// Hooks for a batch whose row `r` runs `rows[r]`; `nil` when no row needs any.
    func hooks(for rows: [Adapter?], model: LanguageModel) -> ModelHooks?
    /// Why `adapter` cannot share a batched decode step with others, or `nil` if it can.
    func unsupportedReason(_ adapter: Adapter) -> String?
}

/// Mixes prompt-learning adapters (prompt tuning, P-tuning, prefix tuning) row by row in
/// one forward pass.
///
/// During decoding (after each row's prompt was prefilled alone with its own adapter)
/// these methods act only through attention prefixes: prompt tuning's and P-tuning's
/// virtual tokens already sit in the row's KV cache. Each layer's prefix is the rows'
/// prefixes stacked to `[B, Pmax, kvHeads, headDim]` with a `B × Pmax` mask, so a row
/// without a prefix (or with a shorter one) attends to exactly its own rows.
struct PromptLearningBatchHooks: BatchHooksFactory {
    static let supportedTypes: Set<String> = ["PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING"]

    func unsupportedReason(_ adapter: Adapter) -> String? {
        Self.supportedTypes.contains(adapter.peftType)
            ? nil : "\(adapter.peftType) adapters cannot be mixed with others in one batch yet"
    }

    func hooks(for rows: [Adapter?], model: LanguageModel) -> ModelHooks? {
        let tape = Tape(recording: false)
        var perAdapter: [ObjectIdentifier: [AttentionPrefix?]] = [:]
        var any = false
        for case let adapter? in rows where perAdapter[ObjectIdentifier(adapter)] == nil {
            let prefixes = (0..<model.layerCount).map { adapter.attentionPrefix(layer: $0, batchSize: 1, tape: tape) }
            perAdapter[ObjectIdentifier(adapter)] = prefixes
            if prefixes.contains(where: { $0 != nil }) { any = true }
        }
        guard any else { return nil }
        let layers = (0..<model.layerCount).map { layer -> AttentionPrefix? in
            let own = rows.map { row in row.flatMap { perAdapter[ObjectIdentifier($0)]?[layer] ?? nil } }
            return Self.stack(own, kvHeads: model.kvHeadCount, headDim: model.headDim)
        }
        return StackedPrefixHooks(prefixes: layers)
    }

    /// Row prefixes (`[1, P_r, H, D]` each, or none) stacked to `[B, Pmax, H, D]` with a mask.
    static func stack(_ rows: [AttentionPrefix?], kvHeads: Int, headDim: Int) -> AttentionPrefix? {
        let pMax = rows.map { $0?.key.shape[1] ?? 0 }.max() ?? 0
        guard pMax > 0 else { return nil }
        let b = rows.count, width = kvHeads * headDim
        let key = Tensor(zeros: [b, pMax, kvHeads, headDim]), value = Tensor(zeros: [b, pMax, kvHeads, headDim])
        var mask = [UInt8](repeating: 0, count: b * pMax)
        for (r, prefix) in rows.enumerated() {
            guard let prefix else { continue }
            let p = prefix.key.shape[1]
            precondition(prefix.key.shape[0] == 1, "a row's prefix must have batch size 1")
            (key.floats + r * pMax * width).update(from: prefix.key.value.floats, count: p * width)
            (value.floats + r * pMax * width).update(from: prefix.value.value.floats, count: p * width)
            for j in 0..<p { mask[r * pMax + j] = prefix.mask.map { $0[j] } ?? 1 }
        }
        return AttentionPrefix(key: Variable(key), value: Variable(value), mask: mask)
    }
}

/// Hooks that only add fixed per-row attention prefixes.
final class StackedPrefixHooks: ModelHooks {
    let prefixes: [AttentionPrefix?]

    init(prefixes: [AttentionPrefix?]) {
        self.prefixes = prefixes
    }

    func attentionPrefix(layer: Int, batchSize: Int, tape: Tape) -> AttentionPrefix? {
        layer < prefixes.count ? prefixes[layer] : nil
    }
}
