import TrimtabTensor

/// Row gathers on the tape for ``MixedAdapterHooks`` (`embedding` is the gather: its
/// backward scatter-adds, so gradients flow back to the rows used).
enum RowGather {
    /// Batch rows `rows` of `x` (`[B, …]`), as `[rows.count, …]`.
    static func rows(_ x: Variable, _ rows: [Int], tape: Tape) -> Variable {
        let shape = x.shape
        let b = shape[0], width = shape.last ?? 1
        let perRow = b == 0 || width == 0 ? 0 : x.value.count / (b * width)
        var ids: [Int32] = []
        ids.reserveCapacity(rows.count * perRow)
        for row in rows {
            for j in 0..<perRow { ids.append(Int32(row * perRow + j)) }
        }
        let table = tape.reshape(x, [b * perRow, width])
        return tape.reshape(tape.embedding(table, ids: ids, shape: [ids.count]), [rows.count] + shape.dropFirst())
    }

    /// The rows of every part (each viewed as `[n, width]`) stacked into one `[Σn, width]` table.
    static func table(_ parts: [Variable], width: Int, tape: Tape) -> Variable {
        let views = parts.map { tape.reshape($0, [1, $0.value.count / width, width]) }
        let joined = tape.concatSequence(views)
        return tape.reshape(joined, [joined.shape[1], width])
    }
}
