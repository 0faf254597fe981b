/// A tensor in a computation, with the gradient the tape accumulates for it.
///
/// Leaves are created by the user: trainable parameters with `requiresGrad: true`,
/// inputs and frozen weights with `false`. Every other variable is the output of a
/// ``Tape`` op and requires a gradient exactly when one of its inputs does, so
/// `backward()` never computes a gradient nobody asked for.
public final class Variable {
    /// The current value.
    public var value: Tensor
    /// The accumulated gradient (f32, same shape), or `nil` if none has flowed here yet.
    public var grad: Tensor?
    /// Whether gradients flow to (or through) this variable.
    public let requiresGrad: Bool
    /// An optional name for errors and profiles (`layers.3.self_attn.q_proj.weight`).
    public var name: String?

    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
    }

    /// The shape of ``value``.
    public var shape: [Int] { value.shape }

    /// The gradient buffer, allocated (zeroed) on first use. Backward kernels accumulate
    /// into it.
    public func gradBuffer() -> Tensor {
        if let grad { return grad }
        let fresh = Tensor(zeros: value.shape)
        grad = fresh
        return fresh
    }

    /// Drops the gradient (the next backward starts from zero).
    public func zeroGrad() {
        grad = nil
    }
}
