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

    /// Whether an op over `inputs` must be recorded.
    @inline(__always)
    func needsGrad(_ inputs: Variable?...) -> Bool {
        isRecording && inputs.contains { $0?.requiresGrad == true }
    }

    /// Wraps a freshly computed `value` as the output of `kind` and, if any of `inputs`
    /// requires a gradient, records `backward`, which receives the output's gradient.
    /// The closure is not called when no gradient reached the output.
    func output(_ kind: OpKind, _ value: Tensor, inputs: [Variable?],
                backward: @escaping (_ dout: Tensor) -> Void) -> Variable {
        let requires = isRecording && inputs.contains { $0?.requiresGrad == true }
        let out = Variable(value, requiresGrad: requires)
        if requires {
            nodes.append(Node(kind: kind, output: out) {
                if let dout = out.grad { backward(dout) }
            })
        }
        return out
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
        for node in nodes.reversed() {
            node.backward()
            // Intermediate gradients are dead once consumed; drop them to free memory.
            if node.output !== root { node.output.grad = nil }
        }
        nodes.removeAll(keepingCapacity: true)
    }
}
