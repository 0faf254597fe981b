import TrimtabTensor

/// Keys and values of the tokens a decoder has already seen, per layer.
///
/// Rows advance together: every forward appends the same number of positions to every
/// row, and ``mask`` remembers which of them were padding. Keys are stored after their
/// rotary embedding, so a cached key never changes.
///
/// For continuous batching (the server) the rows can change between forward passes:
/// ``appendRow(from:row:)`` moves a sequence prefilled alone into a new row,
/// ``removeRow(_:)`` frees one, and ``compact()`` drops positions no row uses. A row's
/// positions need not be contiguous: attention skips masked keys, and each row keeps its
/// own next rotary position, so a row computes exactly what it would alone.
public final class KVCache {
    /// Rows the next forward pass runs over (`≤ rowCapacity`).
    public private(set) var batchSize: Int
    /// Rows the buffers hold.
    public let rowCapacity: Int
    public let capacity: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Per layer `[B, capacity, kvHeads, headDim]`.
    var keys: [Tensor]
    var values: [Tensor]
    /// `B × capacity`, 1 where a cached position holds a real (or virtual) token.
    var mask: [UInt8]
    /// Number of positions filled in every row.
    public private(set) var length = 0
    /// The rotary position the next token of each row takes.
    var nextPosition: [Int32]

    public init(layers: Int, batchSize: Int, capacity: Int, kvHeads: Int, headDim: Int) {
        self.batchSize = batchSize
        self.rowCapacity = batchSize
        self.capacity = capacity
        self.kvHeads = kvHeads
        self.headDim = headDim
        keys = (0..<layers).map { _ in Tensor(zeros: [batchSize, capacity, kvHeads, headDim]) }
        values = (0..<layers).map { _ in Tensor(zeros: [batchSize, capacity, kvHeads, headDim]) }
        mask = [UInt8](repeating: 0, count: batchSize * capacity)
        nextPosition = [Int32](repeating: 0, count: batchSize)
    }

    /// Positions still free.
    public var remaining: Int { capacity - length }

    /// Copies of `layer`'s cached keys and values of batch row `row`: `[length, kvHeads, headDim]`
    /// each (keys as attention sees them, after the rotary embedding).
    public func contents(layer: Int, row: Int = 0) -> (key: Tensor, value: Tensor) {
        precondition(layer < keys.count && row < batchSize, "KV cache: layer \(layer), row \(row) out of range")
        let rowWidth = kvHeads * headDim
        func copy(_ store: Tensor) -> Tensor {
            let out = Tensor(zeros: [length, kvHeads, headDim])
            out.floats.update(from: store.floats + row * capacity * rowWidth, count: length * rowWidth)
            return out
        }
        return (copy(keys[layer]), copy(values[layer]))
    }

    /// Writes `count` new positions of `layer` (`[B, count, kvHeads, headDim]`) after the
    /// cached ones and returns keys and values of all `length + count` positions.
    func append(layer: Int, key: Tensor, value: Tensor, count: Int) -> (key: Tensor, value: Tensor) {
        precondition(length + count <= capacity, "KV cache full: \(length) + \(count) > \(capacity)")
        let rowWidth = kvHeads * headDim
        for (store, new) in [(keys[layer], key), (values[layer], value)] {
            for b in 0..<batchSize {
                let dst = store.floats + (b * capacity + length) * rowWidth
                dst.update(from: new.floats + b * count * rowWidth, count: count * rowWidth)
            }
        }
        let total = length + count
        if batchSize == 1 {
            return (keys[layer].reshaped([rowCapacity * capacity, 1, kvHeads, headDim]).rows(0..<total)
                        .reshaped([1, total, kvHeads, headDim]),
                    values[layer].reshaped([rowCapacity * capacity, 1, kvHeads, headDim]).rows(0..<total)
                        .reshaped([1, total, kvHeads, headDim]))
        }
        func gather(_ store: Tensor) -> Tensor {
            let out = Tensor(zeros: [batchSize, total, kvHeads, headDim])
            for b in 0..<batchSize {
                (out.floats + b * total * rowWidth).update(from: store.floats + b * capacity * rowWidth,
                                                          count: total * rowWidth)
            }
            return out
        }
        return (gather(keys[layer]), gather(values[layer]))
    }

    /// The key mask of the cached positions followed by `newMask` (`B × count`).
    func keyMask(appending newMask: [UInt8], count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: batchSize * (length + count))
        for b in 0..<batchSize {
            for s in 0..<length { out[b * (length + count) + s] = mask[b * capacity + s] }
            for t in 0..<count { out[b * (length + count) + length + t] = newMask[b * count + t] }
        }
        return out
    }

    /// Marks `count` positions as filled once every layer has appended them.
    func commit(mask newMask: [UInt8], count: Int) {
        for b in 0..<batchSize {
            for t in 0..<count {
                mask[b * capacity + length + t] = newMask[b * count + t]
                if newMask[b * count + t] != 0 { nextPosition[b] += 1 }
            }
        }
        length += count
    }

    /// Forgets everything (the buffers are reused).
    public func reset() {
        length = 0
        for i in mask.indices { mask[i] = 0 }
        for b in 0..<rowCapacity { nextPosition[b] = 0 }
    }

    /// Removes every row (the buffers stay allocated for ``appendRow(from:row:)``).
    public func removeAllRows() {
        reset()
        batchSize = 0
    }

    // Invariant the row operations keep: every mask entry at a position ≥ `length` is 0.

    /// Adds row `source` of `other` (same layers and head geometry) as a new last row.
    ///
    /// The row's cached positions are copied to the same positions here; when `other`
    /// holds more positions than this cache, the other rows get masked positions up to
    /// `other.length`.
    /// - Precondition: a free row (`batchSize < rowCapacity`) and `other.length ≤ capacity`.
    public func appendRow(from other: KVCache, row source: Int = 0) {
        precondition(batchSize < rowCapacity, "KV cache has no free row (\(rowCapacity) in use)")
        precondition(other.length <= capacity, "row of \(other.length) positions exceeds capacity \(capacity)")
        precondition(other.keys.count == keys.count && other.kvHeads == kvHeads && other.headDim == headDim,
                     "KV cache geometry differs")
        if batchSize == 0 { length = 0 }
        let row = batchSize
        let rowWidth = kvHeads * headDim
        for layer in keys.indices {
            for (store, from) in [(keys[layer], other.keys[layer]), (values[layer], other.values[layer])] {
                (store.floats + row * capacity * rowWidth).update(from: from.floats + source * other.capacity * rowWidth,
                                                                  count: other.length * rowWidth)
            }
        }
        for s in 0..<capacity { mask[row * capacity + s] = s < other.length ? other.mask[source * other.capacity + s] : 0 }
        nextPosition[row] = other.nextPosition[source]
        length = max(length, other.length)
        batchSize += 1
    }

    /// Removes row `row`; the last row moves into its place (so rows stay `0..<batchSize`).
    public func removeRow(_ row: Int) {
        precondition(row >= 0 && row < batchSize, "row \(row) out of 0..<\(batchSize)")
        let last = batchSize - 1
        if row != last {
            let rowWidth = kvHeads * headDim
            for layer in keys.indices {
                for store in [keys[layer], values[layer]] {
                    (store.floats + row * capacity * rowWidth).update(from: store.floats + last * capacity * rowWidth,
                                                                      count: length * rowWidth)
                }
            }
            for s in 0..<capacity { mask[row * capacity + s] = mask[last * capacity + s] }
            nextPosition[row] = nextPosition[last]
        }
        for s in 0..<capacity { mask[last * capacity + s] = 0 }
        nextPosition[last] = 0
        batchSize -= 1
        if batchSize == 0 { length = 0 }
    }

    /// Moves every row's valid positions to the front (in order) and shortens ``length``
    /// to the longest row, freeing the positions that were masked in every row.
    public func compact() {
        let rowWidth = kvHeads * headDim
        var newLength = 0
        for b in 0..<batchSize {
            var n = 0
            for s in 0..<length where mask[b * capacity + s] != 0 {
                if n != s {
                    for layer in keys.indices {
                        for store in [keys[layer], values[layer]] {
                            (store.floats + (b * capacity + n) * rowWidth)
                                .update(from: store.floats + (b * capacity + s) * rowWidth, count: rowWidth)
                        }
                    }
                }
                n += 1
            }
            for s in 0..<length { mask[b * capacity + s] = s < n ? 1 : 0 }
            newLength = max(newLength, n)
        }
        length = newLength
    }
}
