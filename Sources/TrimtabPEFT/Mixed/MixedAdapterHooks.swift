import TrimtabModels
import TrimtabTensor

// Mixed-adapter batches: one forward pass over rows that each use their own adapter, of
// any kind, or none. PEFT offers per-row `adapter_names` for LoRA only (peft #759,
// PR #1558); this composite works for every method behind the `Adapter` protocol,
// because it only ever calls an adapter's hooks on the sub-batch of its own rows.

/// Hooks for a batch whose rows use different adapters: row `b` is steered by
/// `rows[b]` (or sees the base model when `nil`).
///
/// Every hook call dispatches to each distinct adapter (by identity) once, on the
/// sub-batch of its rows, and assembles the results, so the cost scales with the rows,
/// not rows × adapters:
/// - input embeddings: each row gets its adapter's virtual tokens, padded to the longest
///   with ``InputEmbeddings/virtualMask`` (the padding sits between a row's virtual and
///   real tokens; masked positions neither advance positions nor are attended to, so a
///   row computes what it computes alone);
/// - attention prefixes: per-row key/value rows padded to the longest, with
///   ``AttentionPrefix/mask``;
/// - linear and block hooks: the rows of each adapter are gathered, passed through the
///   adapter and put back; other rows keep the unchanged value.
///
/// Adapters are skipped at hook points they do not steer (``Adapter/steers(_:)``). A
/// batch whose rows all use one adapter calls it directly. Mixed batches are meant for
/// inference; gradients do flow through the gathers, but an adapter's training-only
/// behaviour (dropout) sees only its own rows.
public final class MixedAdapterHooks: ModelHooks {
    /// The adapter of each batch row (`nil`: the base model).
    public let rows: [Adapter?]

    /// One distinct adapter and the batch rows it steers (ascending).
    private struct Group {
        let adapter: Adapter
        let rows: [Int]
    }

    private let groups: [Group]

    /// Hooks for a batch of `rows.count` rows, row `b` steered by `rows[b]`.
    public init(rows: [Adapter?]) {
        self.rows = rows
        var order: [ObjectIdentifier] = []
        var members: [ObjectIdentifier: (Adapter, [Int])] = [:]
        for (b, adapter) in rows.enumerated() {
            guard let adapter else { continue }
            precondition(!(adapter is BaseWeightAdapter) || Set(rows.map { $0.map(ObjectIdentifier.init) }).count == 1,
                         "mixed adapters: \(adapter.peftType) changes the model's own weights and cannot share a batch")
            let id = ObjectIdentifier(adapter)
            if members[id] == nil {
                order.append(id)
                members[id] = (adapter, [])
            }
            members[id]?.1.append(b)
        }
        groups = order.compactMap { members[$0].map { Group(adapter: $0.0, rows: $0.1) } }
    }

    /// The distinct adapters, in order of their first row.
    public var adapters: [Adapter] { groups.map(\.adapter) }

    /// The groups that steer `point`.
    private func active(_ point: HookPoint) -> [Group] {
        groups.filter { $0.adapter.steers(point) }
    }

    /// The one adapter of every row, if all rows share one.
    private func sole(_ active: [Group]) -> Adapter? {
        active.count == 1 && active[0].rows.count == rows.count ? active[0].adapter : nil
    }

    // MARK: - ModelHooks

    public func inputEmbeddings(_ embeddings: Variable, batch: TokenBatch, tape: Tape) -> InputEmbeddings {
        precondition(batch.batchSize == rows.count, "mixed adapters: \(rows.count) rows assigned, batch has \(batch.batchSize)")
        let active = active(.inputEmbeddings)
        if active.isEmpty { return InputEmbeddings(embeddings: embeddings) }
        if let adapter = sole(active) { return adapter.inputEmbeddings(embeddings, batch: batch, tape: tape) }

        let b = batch.batchSize, t = batch.length, c = embeddings.shape[2]
        // Each group's edited sub-batch.
        var outputs: [(group: Group, edited: InputEmbeddings)] = []
        for group in active {
            var ids: [Int32] = [], mask: [UInt8] = []
            for row in group.rows {
                ids += batch.ids[(row * t)..<(row * t + t)]
                mask += batch.mask[(row * t)..<(row * t + t)]
            }
            let sub = TokenBatch(batchSize: group.rows.count, length: t, ids: ids, mask: mask)
            let edited = group.adapter.inputEmbeddings(RowGather.rows(embeddings, group.rows, tape: tape),
                                                       batch: sub, tape: tape)
            precondition(edited.embeddings.shape == [group.rows.count, edited.virtualCount + t, c],
                         "mixed adapters: \(group.adapter.peftType) returned \(edited.embeddings.shape) input embeddings")
            outputs.append((group, edited))
        }
        let v = outputs.map(\.edited.virtualCount).max() ?? 0

        // One table: the unedited embeddings (B·T rows), a zero row, then each group's output.
        let zeroRow = b * t
        var parts = [embeddings, Variable(Tensor(zeros: [1, 1, c]))]
        var slot = [Int](repeating: -1, count: b)  // index into outputs
        var local = [Int](repeating: 0, count: b)
        var offsets: [Int] = []
        var next = zeroRow + 1
        for (k, output) in outputs.enumerated() {
            offsets.append(next)
            next += output.edited.embeddings.value.count / c
            parts.append(output.edited.embeddings)
            for (i, row) in output.group.rows.enumerated() {
                slot[row] = k
                local[row] = i
            }
        }
        let width = v + t
        var ids = [Int32](repeating: Int32(zeroRow), count: b * width)
        var virtualMask = [UInt8](repeating: 0, count: b * v)
        for row in 0..<b {
            let k = slot[row]
            guard k >= 0 else {
                for j in 0..<t { ids[row * width + v + j] = Int32(row * t + j) }
                continue
            }
            let edited = outputs[k].edited, vg = edited.virtualCount
            let start = offsets[k] + local[row] * (vg + t)
            for j in 0..<vg {
                ids[row * width + j] = Int32(start + j)
                virtualMask[row * v + j] = edited.virtualMask?[local[row] * vg + j] ?? 1
            }
            for j in 0..<t { ids[row * width + v + j] = Int32(start + vg + j) }
        }
        let table = RowGather.table(parts, width: c, tape: tape)
        return InputEmbeddings(embeddings: tape.embedding(table, ids: ids, shape: [b, width]), virtualCount: v,
                               virtualMask: virtualMask)
    }

    public func attentionPrefix(layer: Int, batchSize: Int, tape: Tape) -> AttentionPrefix? {
        let active = active(.attentionPrefix(layer: layer))
        if active.isEmpty { return nil }
        if let adapter = sole(active) { return adapter.attentionPrefix(layer: layer, batchSize: batchSize, tape: tape) }

        var outputs: [(group: Group, prefix: AttentionPrefix)] = []
        for group in active {
            if let prefix = group.adapter.attentionPrefix(layer: layer, batchSize: group.rows.count, tape: tape) {
                outputs.append((group, prefix))
            }
        }
        guard let first = outputs.first?.prefix else { return nil }
        let heads = first.key.shape[2], headDim = first.key.shape[3], width = heads * headDim
        let p = outputs.map { $0.prefix.key.shape[1] }.max() ?? 0
        let b = rows.count

        // Tables: a zero row, then each group's rows ([Bp·P] each).
        var keys = [Variable(Tensor(zeros: [1, 1, width]))], values = keys
        var ids = [Int32](repeating: 0, count: b * p)
        var mask = [UInt8](repeating: 0, count: b * p)
        var next = 1
        for (group, prefix) in outputs {
            let shape = prefix.key.shape
            precondition(shape.count == 4 && shape[2] == heads && shape[3] == headDim && prefix.value.shape == shape,
                         "mixed adapters: prefix \(shape) of \(group.adapter.peftType) for [*, *, \(heads), \(headDim)]")
            let (bp, pg) = (shape[0], shape[1])
            precondition(bp == 1 || bp == group.rows.count, "mixed adapters: prefix batch \(bp) for \(group.rows.count) rows")
            keys.append(prefix.key)
            values.append(prefix.value)
            for (i, row) in group.rows.enumerated() {
                for j in 0..<pg {
                    ids[row * p + j] = Int32(next + (bp == 1 ? 0 : i) * pg + j)
                    mask[row * p + j] = prefix.mask?[i * pg + j] ?? 1
                }
            }
            next += bp * pg
        }
        func gather(_ parts: [Variable]) -> Variable {
            tape.reshape(tape.embedding(RowGather.table(parts, width: width, tape: tape), ids: ids, shape: [b * p]),
                         [b, p, heads, headDim])
        }
        return AttentionPrefix(key: gather(keys), value: gather(values), mask: mask)
    }

    public func linearInput(_ site: LinearSite, _ input: Variable, tape: Tape) -> Variable {
        perGroup(.linearInput(site), unchanged: input, tape: tape) { adapter, rows in
            adapter.linearInput(site, rows(input), tape: tape)
        }
    }

    public func linearOutput(_ site: LinearSite, input: Variable, base: Variable, tape: Tape) -> Variable {
        perGroup(.linearOutput(site), unchanged: base, tape: tape) { adapter, rows in
            adapter.linearOutput(site, input: rows(input), base: rows(base), tape: tape)
        }
    }

    public func blockOutput(_ site: BlockSite, _ output: Variable, tape: Tape) -> Variable {
        perGroup(.blockOutput(site), unchanged: output, tape: tape) { adapter, rows in
            adapter.blockOutput(site, rows(output), tape: tape)
        }
    }

    /// Runs `call` for every adapter steering `point` on its own rows and puts the results
    /// back into `unchanged` (`[B, …, F]`), which the other rows keep.
    ///
    /// `call` gets the adapter and a function that gathers that adapter's rows of a
    /// `[B, …]` tensor.
    private func perGroup(_ point: HookPoint, unchanged: Variable, tape: Tape,
                          _ call: (Adapter, (Variable) -> Variable) -> Variable) -> Variable {
        let active = active(point)
        if active.isEmpty { return unchanged }
        if let adapter = sole(active) { return call(adapter, { $0 }) }
        let shape = unchanged.shape
        precondition(shape.first == rows.count, "mixed adapters: hook input \(shape) for \(rows.count) rows")
        let width = shape.last ?? 1, b = rows.count
        let perRow = b == 0 || width == 0 ? 0 : unchanged.value.count / (b * width)
        var parts = [unchanged]
        var ids = (0..<(b * perRow)).map { Int32($0) }
        var next = b * perRow
        for group in active {
            let out = call(group.adapter) { RowGather.rows($0, group.rows, tape: tape) }
            precondition(out.shape == [group.rows.count] + shape.dropFirst(),
                         "mixed adapters: \(group.adapter.peftType) returned \(out.shape) for rows of \(shape)")
            parts.append(out)
            for (i, row) in group.rows.enumerated() {
                for j in 0..<perRow { ids[row * perRow + j] = Int32(next + i * perRow + j) }
            }
            next += group.rows.count * perRow
        }
        let gathered = tape.embedding(RowGather.table(parts, width: width, tape: tape), ids: ids, shape: [b * perRow])
        return tape.reshape(gathered, shape)
    }
}
