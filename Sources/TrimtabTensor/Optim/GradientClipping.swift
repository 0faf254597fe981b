/// Scales all gradients down together when their global L2 norm exceeds `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does.
///
/// The norm `‖g‖ = √(Σ over every parameter's gradient of g²)` is accumulated in Double,
/// in a fixed order (the result does not depend on the thread count). When `‖g‖ >
/// maxNorm`, every gradient is multiplied by `maxNorm / (‖g‖ + 1e-6)`; otherwise nothing
/// changes. Parameters whose `grad` is `nil` are skipped. If the norm is not finite (an
/// overflow or a NaN in some gradient), the gradients are left untouched and the
/// non-finite norm is returned, so the caller can skip the step (torch would scale by
/// 0 or NaN instead).
///
/// - Parameters:
///   - parameters: the variables whose gradients are clipped (f32 gradients).
///   - maxNorm: the largest allowed global norm; must be ≥ 0.
/// - Returns: the global norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
    precondition(maxNorm >= 0, "clipGradientNorm: maxNorm \(maxNorm) must be ≥ 0")
    let grads = parameters.compactMap(\.grad)
    var sumOfSquares = 0.0
    for grad in grads {
        precondition(grad.dtype == .f32, "clipGradientNorm: \(grad.dtype) gradient")
        sumOfSquares += sumOfSquaresInDouble(grad.floats, count: grad.count)
    }
    let norm = sumOfSquares.squareRoot()
    if norm.isFinite && norm > Double(maxNorm) {
        let scale = Float(Double(maxNorm) / (norm + 1e-6))
        for grad in grads { scaleInPlace(grad.floats, count: grad.count, by: scale) }
    }
    return Float(norm)
}

/// Elements per partial sum in ``sumOfSquaresInDouble(_:count:)``; fixed, so the
/// summation order never depends on the thread count.
private let normBlock = 1 << 14

/// `Σ x[i]²` over `x: (count,)`, accumulated in Double over fixed blocks (in parallel
/// for large tensors) and then summed in block order.
func sumOfSquaresInDouble(_ x: UnsafeMutablePointer<Float>, count: Int) -> Double {
    let blocks = (count + normBlock - 1) / normBlock
    if blocks <= 1 { return sumOfSquaresBlock(x, count: count) }
    var partial = [Double](repeating: 0, count: blocks)
    partial.withUnsafeMutableBufferPointer { partial in
        Parallel.forRows(blocks, costPerRow: normBlock) { block in
            let start = block * normBlock
            partial[block] = sumOfSquaresBlock(x + start, count: min(normBlock, count - start))
        }
    }
    return partial.reduce(0, +)
}

/// `Σ x[i]²` of one block, in four Double lanes.
@inline(__always)
private func sumOfSquaresBlock(_ x: UnsafeMutablePointer<Float>, count: Int) -> Double {
    var acc = SIMD4<Double>()
    var i = 0
    while i + 4 <= count {
        let v = SIMD4<Double>(Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3]))
        acc += v * v
        i += 4
    }
    var sum = acc.sum()
    while i < count {
        sum += Double(x[i]) * Double(x[i])
        i += 1
    }
    return sum
}

/// `x[i] *= scale` over `x: (count,)`.
private func scaleInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, by scale: Float) {
    forEachBlock(count) { i, n in
        storeBlock(loadBlock(x + i, n) * scale, x + i, n)
    }
}
