/// Errors raised when a learning-rate schedule is built from a name or configuration.
public enum LRScheduleError: Error, Equatable, CustomStringConvertible {
    /// The schedule name is not one of ``LRSchedule/names``.
    case unknownName(String, known: [String])
    /// A step count or ratio is out of range.
    case invalidValue(field: String, value: Double, reason: String)

    public var description: String {
        switch self {
        case let .unknownName(name, known):
            return "unknown learning-rate schedule \"\(name)\"; use one of \(known.joined(separator: ", "))"
        case let .invalidValue(field, value, reason):
            return "learning-rate schedule \(field) \(value) \(reason)"
        }
    }
}
