import Foundation

/// A learning-rate multiplier as a function of the optimizer step, matching the
/// schedules of Hugging Face transformers (`transformers/optimization.py`), which a
/// `LambdaLR` applies to the base learning rate.
///
/// Steps count from 0 like `LambdaLR`: the first optimizer step uses
/// `multiplier(step: 0)`, so with warm-up the very first update has learning rate 0.
/// Set `optimizer.learningRate = baseLR * schedule.multiplier(step: optimizer.stepCount)`
/// before each ``Optimizer/step()``.
///
/// Encoded as a flat JSON object, `{"type": "cosine", "warmupSteps": 10,
/// "totalSteps": 1000, "minRatio": 0.1}`.
public enum LRSchedule: Codable, Sendable, Equatable {
    /// Always 1 (`get_constant_schedule`).
    case constant
    /// Linear warm-up from 0 to 1 over `warmupSteps`, then linear decay to 0 at
    /// `totalSteps` (`get_linear_schedule_with_warmup`).
    case linear(warmupSteps: Int, totalSteps: Int)
    /// Linear warm-up, then a half cosine from 1 down to `minRatio` at `totalSteps`
    /// (`get_cosine_schedule_with_warmup`; with `minRatio > 0`,
    /// `get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate: minRatio)`). Past
    /// `totalSteps` the cosine rises again, as in transformers.
    case cosine(warmupSteps: Int, totalSteps: Int, minRatio: Float = 0)
    /// Linear warm-up, then 1 (`get_constant_schedule_with_warmup`).
    case constantWithWarmup(warmupSteps: Int)

    /// The names ``init(parsing:warmupSteps:totalSteps:minRatio:)`` accepts (transformers'
    /// `SchedulerType` values; `-` and `_` are interchangeable, case is ignored).
    public static let names = ["constant", "linear", "cosine", "cosine_with_min_lr", "constant_with_warmup"]

    /// Builds a schedule from its name, as given on the command line.
    ///
    /// `constant` ignores the step counts; `constant_with_warmup` uses `warmupSteps`;
    /// `linear` and `cosine` use both; `cosine_with_min_lr` is `cosine` with `minRatio`.
    /// - Throws: ``LRScheduleError`` for an unknown name or a count or ratio out of range.
    public init(parsing name: String, warmupSteps: Int = 0, totalSteps: Int = 0, minRatio: Float = 0) throws {
        let key = name.lowercased().filter { $0 != "_" && $0 != "-" }
        switch key {
        case "constant": self = .constant
        case "linear": self = .linear(warmupSteps: warmupSteps, totalSteps: totalSteps)
        case "cosine", "cosinewithminlr":
            self = .cosine(warmupSteps: warmupSteps, totalSteps: totalSteps, minRatio: minRatio)
        case "constantwithwarmup": self = .constantWithWarmup(warmupSteps: warmupSteps)
        default: throw LRScheduleError.unknownName(name, known: LRSchedule.names)
        }
        try validate()
    }

    /// The transformers name of this schedule.
    public var name: String {
        switch self {
        case .constant: return "constant"
        case .linear: return "linear"
        case let .cosine(_, _, minRatio): return minRatio == 0 ? "cosine" : "cosine_with_min_lr"
        case .constantWithWarmup: return "constant_with_warmup"
        }
    }

    /// Throws unless step counts are ≥ 0 and `minRatio` is in [0, 1].
    public func validate() throws {
        func count(_ field: String, _ value: Int) throws {
            guard value >= 0 else { throw LRScheduleError.invalidValue(field: field, value: Double(value), reason: "must be ≥ 0") }
        }
        switch self {
        case .constant: break
        case let .linear(warmupSteps, totalSteps):
            try count("warmupSteps", warmupSteps)
            try count("totalSteps", totalSteps)
        case let .cosine(warmupSteps, totalSteps, minRatio):
            try count("warmupSteps", warmupSteps)
            try count("totalSteps", totalSteps)
            guard minRatio >= 0 && minRatio <= 1 else {
                throw LRScheduleError.invalidValue(field: "minRatio", value: Double(minRatio), reason: "must be in [0, 1]")
            }
        case let .constantWithWarmup(warmupSteps):
            try count("warmupSteps", warmupSteps)
        }
    }

    /// The factor applied to the base learning rate at `step` (≥ 0, counted from 0),
    /// computed in Double exactly as transformers' lambdas and rounded to f32.
    public func multiplier(step: Int) -> Float {
        precondition(step >= 0, "LRSchedule.multiplier: negative step \(step)")
        let s = Double(step)
        func warmup(_ warmupSteps: Int) -> Double? {
            step < warmupSteps ? s / Double(max(1, warmupSteps)) : nil
        }
        switch self {
        case .constant:
            return 1
        case let .constantWithWarmup(warmupSteps):
            return Float(warmup(warmupSteps) ?? 1)
        case let .linear(warmupSteps, totalSteps):
            if let w = warmup(warmupSteps) { return Float(w) }
            return Float(max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps))))
        case let .cosine(warmupSteps, totalSteps, minRatio):
            if let w = warmup(warmupSteps) { return Float(w) }
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            let cosine = 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress))
            let floor = Double(minRatio)
            return Float(max(0, cosine * (1 - floor) + floor))
        }
    }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case type, warmupSteps, totalSteps, minRatio
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        let warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
        let needsTotal = ["linear", "cosine", "cosinewithminlr"].contains(type.lowercased().filter { $0 != "_" && $0 != "-" })
        let totalSteps = needsTotal ? try c.decode(Int.self, forKey: .totalSteps) : 0
        let minRatio = try c.decodeIfPresent(Float.self, forKey: .minRatio) ?? 0
        do {
            try self.init(parsing: type, warmupSteps: warmupSteps, totalSteps: totalSteps, minRatio: minRatio)
        } catch let error as LRScheduleError {
            let key: CodingKeys
            switch error {
            case .unknownName: key = .type
            case let .invalidValue(field, _, _): key = CodingKeys(stringValue: field) ?? .type
            }
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .constant:
            try c.encode("constant", forKey: .type)
        case let .linear(warmupSteps, totalSteps):
            try c.encode("linear", forKey: .type)
            try c.encode(warmupSteps, forKey: .warmupSteps)
            try c.encode(totalSteps, forKey: .totalSteps)
        case let .cosine(warmupSteps, totalSteps, minRatio):
            try c.encode("cosine", forKey: .type)
            try c.encode(warmupSteps, forKey: .warmupSteps)
            try c.encode(totalSteps, forKey: .totalSteps)
            try c.encode(minRatio, forKey: .minRatio)
        case let .constantWithWarmup(warmupSteps):
            try c.encode("constant_with_warmup", forKey: .type)
            try c.encode(warmupSteps, forKey: .warmupSteps)
        }
    }
}

extension LRSchedule: CustomStringConvertible {
    public var description: String {
        switch self {
        case .constant: return "constant"
        case let .linear(w, t): return "linear(warmup \(w), total \(t))"
        case let .cosine(w, t, r): return "cosine(warmup \(w), total \(t)\(r == 0 ? "" : ", min ratio \(r)"))"
        case let .constantWithWarmup(w): return "constant_with_warmup(warmup \(w))"
        }
    }
}
