/// Records the ops of a forward pass so ``backward(from:gradient:)`` can replay them in
/// reverse.
///
/// Each recorded node keeps what its backward needs (the tinygrad rule: save in forward
/// exactly what backward reads) inside its closure. An op is recorded only if its output
/// requires a gradient, and a backward closure accumulates only into inputs that require
/// one: a frozen weight never costs a dW product.
public final class Tape {
    struct Node {
        let kind: OpKind
        let output: Variable
        let backward: () -> Void
    }

    /// When `false`, ops compute forward only and record nothing (inference).
    public var isRecording: Bool
    private(set) var nodes: [Node] = []
    /// When set, every op's forward and backward time is booked here (see ``TapeProfile``).
    public var profile: TapeProfile?

    public init(recording: Bool = true) {
        isRecording = recording
    }

    /// Number of nodes recorded since the last ``reset()``.
    public var count: Int { nodes.count }

    /// How many recorded nodes there are of each kind.
    public var histogram: [OpKind: Int] {
        nodes.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 }
    }

    /// Forgets all recorded nodes (call between steps).
    public func reset() {
        nodes.removeAll(keepingCapacity: true)
    }

    /// False while the node producing the backward's root runs: the root keeps its
    /// gradient after ``backward(from:gradient:)``, so it must not be handed on.
    private var outputGradientIsDisposable = true

    /// Adds `dout`, the gradient of the output of the op whose backward is running, to
    /// `input`'s gradient. When none has flowed to `input` yet, `dout` itself becomes it
    /// (viewed in `input`'s shape) — no buffer, no pass over memory: the tape drops the
    /// output's reference once the op's backward returns, so `input` is its only holder.
    /// An op may hand `dout` to one input only; others get ``accumulateGradient(_:into:)``.
    func passGradient(_ dout: Tensor, to input: Variable) {
        if outputGradientIsDisposable {
            giveGradient(dout, to: input)
        } else {
            accumulateGradient(dout, into: input)
        }
    }

    /// Makes `gradient` `input`'s gradient when none has flowed there yet, else adds it;
    /// for a tensor nothing reads or writes after the running backward (a gradient the op
    /// computed in its forward, or an output gradient, via ``passGradient(_:to:)``).
    func giveGradient(_ gradient: Tensor, to input: Variable) {
        if input.grad == nil {
            input.grad = gradient.shape == input.shape ? gradient : gradient.reshaped(input.shape)
        } else {
            accumulateGradient(gradient, into: input)
        }
    }

    /// Adds `dout` (same element count) to `input`'s gradient, copying it into a fresh
    /// buffer when none has flowed there yet.
    func accumulateGradient(_ dout: Tensor, into input: Variable) {
        let (dinp, accumulate) = input.gradDestination()
        let n = dinp.count
        precondition(dout.count == n, "gradient of \(dout.count) elements for \(input.shape)")
        if accumulate {
            Elementwise.accumulate(dinp: dinp.floats, dout: dout.floats, count: n)
        } else {
            dinp.assign(from: dout)
        }
    }

    /// Whether an op over `inputs` must be recorded.
    @inline(__always)
    func needsGrad(_ inputs: Variable?...) -> Bool {
        isRecording && inputs.contains { $0?.requiresGrad == true }
    }

    /// Wraps a freshly computed `value` as the output of `kind` and, if any of `inputs`
    /// requires a gradient, records `backward`, which receives the output's gradient.
    /// The closure is not called when no gradient reached the output.
    ///
    /// `rounded` is the value rounded to bf16 when the op wrote that copy too
    /// (``Variable/roundedBF16``).
    ///
    /// `unread` lists inputs whose values `backward` never reads (it may still accumulate
    /// into their gradients): the tape may free those values after the forward. Every
    /// other input is marked as needed.
    func output(_ kind: OpKind, _ value: Tensor, rounded: Tensor? = nil, inputs: [Variable?], unread: [Variable?] = [],
                backward: @escaping (_ dout: Tensor) -> Void) -> Variable {
        profile?.recordForward(kind)
        let requires = isRecording && inputs.contains { $0?.requiresGrad == true }
        let out = Variable(value, requiresGrad: requires)
        out.roundedBF16 = rounded
        if requires {
            for case let input? in inputs where !unread.contains(where: { $0 === input }) {
                input.valueNeededByBackward = true
            }
            nodes.append(Node(kind: kind, output: out) {
                if let dout = out.grad { backward(dout) }
            })
        }
        return out
    }

    /// Frees the values of the outputs recorded since node `start` (a ``count`` taken
    /// earlier) that no recorded backward reads, except `kept`, and every such output's
    /// ``Variable/roundedBF16`` (only forward products read those).
    ///
    /// Call it where the forward will not read those variables again: a model calls it at
    /// the end of each block with the block's output as `kept`, so the block's
    /// intermediate results whose only readers were, say, frozen linear layers (whose
    /// backward needs the weight but not the input) or rotations and sums do not stay in
    /// memory until backward. (A norm output that LoRA's backward reads keeps its f32
    /// value; its bf16 copy, kept too, took 41 MB of a bf16 LoRA step's peak.) Does
    /// nothing on a tape that is not recording.
    public func releaseValues(recordedSince start: Int, keeping kept: Variable) {
        guard isRecording, start < nodes.count else { return }
        for node in nodes[max(start, 0)...] where node.output !== kept {
            node.output.roundedBF16 = nil
            if !node.output.valueNeededByBackward { node.output.releaseValue() }
        }
    }

    /// Back-propagates from `root`, seeding its gradient with `gradient` (ones by
    /// default, i.e. d root / d root for a scalar loss), and clears the tape.
    public func backward(from root: Variable, gradient: Tensor? = nil) {
        precondition(root.requiresGrad, "backward from a variable that does not require a gradient")
        let seed = root.gradBuffer()
        if let gradient {
            precondition(gradient.shape == root.shape, "seed gradient \(gradient.shape) for \(root.shape)")
            seed.assign(from: gradient)
        } else {
            seed.fill(1)
        }
        // Each node leaves the tape once its backward has run, and with it what its closure
        // kept for backward: activations go back to the block cache layer by layer, where
        // the gradients of the layers below reuse them (kept to the end, they left the
        // cache no room, and gradient blocks were mapped afresh, ~500 MB a training step).
        while let node = nodes.popLast() {
            outputGradientIsDisposable = node.output !== root
            if let profile {
                profile.recordBackward(node.kind, node.backward)
            } else {
                node.backward()
            }
            // Intermediate gradients are dead once consumed; drop them to free memory.
            if node.output !== root { node.output.grad = nil }
        }
        outputGradientIsDisposable = true
    }
}
