import TrimtabTensor

/// Checkpoint tensors by name, turned into a model's variables with the checks every
/// architecture needs.
///
/// A weight selected by `trainable` gets its own memory: a checkpoint tensor may borrow a
/// read-only file mapping, and an optimizer writes into trainable weights.
final class WeightTable {
    let tensors: [String: Tensor]
    let source: String
    /// The names `trainable` selected.
    private let trainableNames: Set<String>
    /// Every variable handed out, by name (the model's `parameters`).
    private(set) var parameters: [String: Variable] = [:]

    init(tensors: [String: Tensor], source: String, trainable: (String) -> Bool) {
        self.tensors = tensors
        self.source = source
        trainableNames = Set(tensors.keys.filter(trainable))
    }

    /// The tensor `name`, which must have `shape`.
    func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelError.missingWeight(name: name, source: source) }
        guard t.shape == shape else {
            throw ModelError.shapeMismatch(name: name, expected: shape, got: t.shape, source: source)
        }
        return t
    }

    /// The weight `name` (of `shape`) as a variable, recorded in ``parameters``.
    func variable(_ name: String, _ shape: [Int]) throws -> Variable {
        register(name, try take(name, shape))
    }

    /// The weight `name` as a variable if the checkpoint has it (it must then have `shape`).
    func optionalVariable(_ name: String, _ shape: [Int]) throws -> Variable? {
        guard tensors[name] != nil else { return nil }
        return try variable(name, shape)
    }

    /// Records `tensor` (already checked, possibly re-laid-out) as the variable `name`.
    func register(_ name: String, _ tensor: Tensor) -> Variable {
        let train = trainableNames.contains(name)
        let v = Variable(train && !tensor.storage.isOwned ? tensor.copy() : tensor, requiresGrad: train, name: name)
        parameters[name] = v
        return v
    }
}
