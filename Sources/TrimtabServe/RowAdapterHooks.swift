import TrimtabModels
import TrimtabPEFT

/// Builds the hooks of one batched decode step in which every row may carry a different
/// adapter (or none).
///
/// The engine asks for new hooks only when the rows of its batch change.
protocol BatchHooksFactory {
    /// Hooks for a batch whose row `r` runs `rows[r]`; `nil` when no row has an adapter.
    func hooks(for rows: [Adapter?], model: LanguageModel) -> ModelHooks?
    /// Why `adapter` cannot share a batched decode step with others, or `nil` if it can.
    func unsupportedReason(_ adapter: Adapter) -> String?
}

/// One forward pass per step over rows of any adapter kinds, through TrimtabPEFT's
/// ``MixedAdapterHooks`` (each adapter's hooks run on the sub-batch of its own rows).
///
/// During decoding (after each row's prompt was prefilled alone with its own adapter),
/// prompt tuning's and P-tuning's virtual tokens already sit in the row's KV cache, so
/// they act through the cache; prefix tuning adds per-row prefixes (padded and masked);
/// LoRA, DoRA, (IA)³ and bottleneck adapters change the linear layers and blocks of their
/// rows only.
struct MixedBatchHooks: BatchHooksFactory {
    func unsupportedReason(_ adapter: Adapter) -> String? {
        adapter is BaseWeightAdapter
            ? "\(adapter.peftType) adapters change the model's own weights and cannot share a batch; "
                + "merge it (trimtab merge) and serve the merged model"
            : nil
    }

    func hooks(for rows: [Adapter?], model: LanguageModel) -> ModelHooks? {
        rows.contains { $0 != nil } ? MixedAdapterHooks(rows: rows) : nil
    }
}
