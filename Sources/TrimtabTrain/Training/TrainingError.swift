/// Why training could not start, continue or save.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// A setting is out of range; `name` is the setting as the command line spells it.
    case invalidSetting(name: String, reason: String)
    /// The adapter has no trainable parameters.
    case nothingToTrain
    /// No example of the training set carries loss.
    case noTargets(file: String)
    /// A checkpoint cannot be resumed from.
    case invalidCheckpoint(path: String, reason: String)
    /// A file or directory could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSetting(name, reason): return "--\(name): \(reason)"
        case .nothingToTrain: return "the adapter has no trainable parameters"
        case let .noTargets(file): return "\(file): no example carries loss"
        case let .invalidCheckpoint(path, reason): return "cannot resume from \(path): \(reason)"
        case let .writeFailed(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}
