/// A tensor in a computation, with the gradient the tape accumulates for it.
///
/// Leaves are created by the user: trainable parameters with `requiresGrad: true`,
/// inputs and frozen weights with `false`. Every other variable is the output of a
/// ``Tape`` op and requires a gradient exactly when one of its inputs does, so
/// `backward()` never computes a gradient nobody asked for.
public final class Variable {
    /// The current value. Replacing it drops ``quantized`` and ``roundedBF16``, which no
    /// longer match.
    public var value: Tensor {
        didSet {
            quantized = nil
            roundedBF16 = nil
        }
    }
    /// The accumulated gradient (f32, same shape), or `nil` if none has flowed here yet.
    public var grad: Tensor?
    /// Whether gradients flow to (or through) this variable.
    public let requiresGrad: Bool
    /// An optional name for errors and profiles (`layers.3.self_attn.q_proj.weight`).
    public var name: String?
    /// A frozen weight's blocks in a quantised format (a GGUF's own), equal to ``value``
    /// (dequantised from them); ``Tape/linear(_:_:bias:)`` multiplies a few input rows
    /// (decoding) straight from them, streaming 4.5–8.5 bits a weight instead of 16 or 32.
    public var quantized: QuantizedMatrix?
    /// An op's output rounded to bf16 by the op itself (`rmsNorm` and `swiglu` asked for a
    /// rounded copy): ``Tape/linear(_:_:bias:)`` over a bf16 weight multiplies it instead
    /// of rounding the f32 value again for each product that reads it.
    public internal(set) var roundedBF16: Tensor?

    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
    }

    /// The shape of ``value`` (kept when the value is released).
    public var shape: [Int] { releasedShape ?? value.shape }

    /// Set when a recorded op's backward reads this variable's value; the tape may free
    /// the values nobody's backward reads (``Tape/releaseValues(recordedSince:keeping:)``).
    var valueNeededByBackward = false
    private var releasedShape: [Int]?

    /// Whether ``value`` was freed after the forward (only ``shape`` and the gradient remain).
    public var isReleased: Bool { releasedShape != nil }

    /// Frees the value, keeping the shape for the gradient.
    func releaseValue() {
        guard releasedShape == nil else { return }
        releasedShape = value.shape
        value = Variable.releasedPlaceholder
    }

    private static let releasedPlaceholder = Tensor(zeros: [0])

    /// The gradient buffer, allocated (zeroed) on first use. Backward kernels accumulate
    /// into it.
    public func gradBuffer() -> Tensor {
        if let grad { return grad }
        let fresh = Tensor(zeros: shape)
        grad = fresh
        return fresh
    }

    /// Where a backward kernel writes its contribution to the gradient: when none has
    /// flowed here yet, a fresh buffer that is *not* zeroed, which the kernel must
    /// overwrite entirely (`accumulate` is false: a product runs with beta 0, an
    /// elementwise kernel stores instead of adding); otherwise the gradient so far, to
    /// accumulate into. Saves zeroing a buffer and reading it back once per gradient.
    public func gradDestination() -> (buffer: Tensor, accumulate: Bool) {
        if let grad { return (grad, true) }
        let fresh = Tensor(uninitialized: shape)
        grad = fresh
        return (fresh, false)
    }

    /// Drops the gradient (the next backward starts from zero).
    public func zeroGrad() {
        grad = nil
    }
}
