import TrimtabModels

/// Encoded examples padded into one ``TokenBatch``, with the targets the loss scores.
///
/// Padding never carries loss: targets are listed explicitly, and only positions whose
/// token has `lossMask == 1` appear.
public struct TrainingBatch: Sendable {
    /// The right-padded ids and their mask.
    public let tokens: TokenBatch
    /// For each target, in row-major order: its row.
    public let targetRows: [Int]
    /// For each target: its position among the row's real tokens (≥ 1; the output at
    /// position − 1 predicts it).
    public let targetPositions: [Int]
    /// For each target: the token id.
    public let targets: [Int32]

    /// Pads `examples` with `padId` (its value never matters: padding is masked out of
    /// attention and never a target) to the longest row, rounded up to a multiple of
    /// `lengthMultiple` so that batches share a few matrix shapes (the GEMM backend
    /// prepares a kernel per shape).
    public init(_ examples: [EncodedExample], padId: Int32 = 0, lengthMultiple: Int = 1) {
        precondition(lengthMultiple >= 1, "length multiple \(lengthMultiple)")
        let longest = examples.map(\.count).max() ?? 0
        let length = (longest + lengthMultiple - 1) / lengthMultiple * lengthMultiple
        var ids: [Int32] = [], mask: [UInt8] = []
        ids.reserveCapacity(examples.count * length)
        mask.reserveCapacity(examples.count * length)
        for e in examples {
            ids += e.ids
            ids += [Int32](repeating: padId, count: length - e.count)
            mask += [UInt8](repeating: 1, count: e.count)
            mask += [UInt8](repeating: 0, count: length - e.count)
        }
        tokens = TokenBatch(batchSize: examples.count, length: length, ids: ids, mask: mask)
        var rows: [Int] = [], positions: [Int] = [], targets: [Int32] = []
        for (b, e) in examples.enumerated() {
            for t in 1..<max(1, e.count) where e.lossMask[t] != 0 {
                rows.append(b)
                positions.append(t)
                targets.append(e.ids[t])
            }
        }
        targetRows = rows
        targetPositions = positions
        self.targets = targets
    }

    /// Number of rows.
    public var batchSize: Int { tokens.batchSize }
    /// Number of target tokens.
    public var targetCount: Int { targets.count }
    /// Number of real (unpadded) tokens.
    public var tokenCount: Int { tokens.mask.reduce(0) { $0 + Int($1) } }

    /// Row indices into the flattened hidden states `[B · (V + T), C]` of the outputs
    /// that predict each target, when `virtualCount` virtual tokens precede every row.
    public func sourceRows(virtualCount: Int) -> [Int32] {
        let width = virtualCount + tokens.length
        return zip(targetRows, targetPositions).map { Int32($0 * width + virtualCount + $1 - 1) }
    }
}
