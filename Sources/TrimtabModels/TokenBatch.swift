import TrimtabTensor

/// A batch of token sequences, right-padded to one length.
///
/// `ids` holds `batchSize × length` token ids row by row; `mask` marks real tokens (1)
/// and padding (0). Positions for rotary embeddings count only real tokens, so a row's
/// first real token is at position 0 (plus any virtual tokens or cached tokens before it).
public struct TokenBatch: Sendable {
    public let batchSize: Int
    public let length: Int
    public var ids: [Int32]
    public var mask: [UInt8]

    /// A batch from rows of ids, right-padded with `padId`.
    public init(rows: [[Int32]], padId: Int32 = 0) {
        batchSize = rows.count
        length = rows.map(\.count).max() ?? 0
        ids = []
        mask = []
        ids.reserveCapacity(batchSize * length)
        mask.reserveCapacity(batchSize * length)
        for row in rows {
            ids += row
            mask += [UInt8](repeating: 1, count: row.count)
            ids += [Int32](repeating: padId, count: length - row.count)
            mask += [UInt8](repeating: 0, count: length - row.count)
        }
    }

    /// A batch from flat ids and mask.
    public init(batchSize: Int, length: Int, ids: [Int32], mask: [UInt8]? = nil) {
        precondition(ids.count == batchSize * length, "ids \(ids.count) for \(batchSize)×\(length)")
        self.batchSize = batchSize
        self.length = length
        self.ids = ids
        self.mask = mask ?? [UInt8](repeating: 1, count: ids.count)
    }

    /// Number of real tokens in row `b`.
    public func validCount(row b: Int) -> Int {
        var n = 0
        for t in 0..<length where mask[b * length + t] != 0 { n += 1 }
        return n
    }
}
