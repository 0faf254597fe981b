import TrimtabTensor

/// Keys and values of the tokens a decoder has already seen, per layer.
///
/// Rows advance together: every forward appends the same number of positions to every
/// row, and ``mask`` remembers which of them were padding. Keys are stored after their
/// rotary embedding, so a cached key never changes.
public final class KVCache {
    public let batchSize: Int
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
            return (keys[layer].reshaped([capacity, 1, kvHeads, headDim]).rows(0..<total)
                        .reshaped([1, total, kvHeads, headDim]),
                    values[layer].reshaped([capacity, 1, kvHeads, headDim]).rows(0..<total)
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
        for b in 0..<batchSize { nextPosition[b] = 0 }
    }
}
