import Foundation
import TrimtabModels

/// PEFT's `target_modules` / `exclude_modules`: a list of module names, or one regular
/// expression matched against the whole module path.
///
/// Reference: peft `tuners/tuners_utils.py` (`check_target_module_exists`,
/// `_maybe_include_all_linear_layers`). A list entry matches a module whose path equals
/// it or ends in `.<entry>` (`q_proj` matches `model.layers.3.self_attn.q_proj`); a string
/// must match the full path (`re.fullmatch`). `all-linear` selects every linear layer
/// except the output head; PEFT writes it back expanded to full module paths.
public enum TargetModules: Equatable, Sendable {
    case names([String])
    case pattern(String)

    /// PEFT's shorthand for every linear layer but the output head.
    public static let allLinear = "all-linear"

    /// Whether `path` (`model.layers.3.self_attn.q_proj`) is selected.
    public func matches(_ path: String) -> Bool {
        switch self {
        case let .names(names):
            return names.contains { path == $0 || path.hasSuffix("." + $0) }
        case let .pattern(pattern):
            return PEFTRegex.fullMatch(pattern, path)
        }
    }

    /// Whether this is the `all-linear` shorthand.
    public var isAllLinear: Bool { self == .pattern(Self.allLinear) || self == .names([Self.allLinear]) }

    /// `all-linear` replaced by the paths of every linear site of `model` (the output head
    /// is never a ``LinearSite``), sorted; other values unchanged.
    public func expanded(for model: LanguageModel) -> TargetModules {
        isAllLinear ? .names(model.linearSites.map(\.path).sorted()) : self
    }
}

extension TargetModules: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .pattern(s)
        } else if let list = try? c.decode([String].self) {
            self = .names(list)
        } else {
            throw AdapterError.invalidConfiguration(file: nil, field: decoder.codingPath.last?.stringValue ?? "target_modules",
                                                    reason: "must be a list of module names or a regular expression")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .names(names): try c.encode(names)
        case let .pattern(p): try c.encode(p)
        }
    }
}

/// Python-`re` style matching for PEFT's patterns (ICU regular expressions, which agree
/// with Python's for the syntax module patterns use).
enum PEFTRegex {
    /// `re.fullmatch(pattern, text) is not None`.
    static func fullMatch(_ pattern: String, _ text: String) -> Bool {
        firstGroups("^(?:\(pattern))$", text) != nil
    }

    /// The capture groups of `re.match(pattern, text)` (anchored at the start), or `nil`.
    static func firstGroups(_ pattern: String, _ text: String) -> [String]? {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        let range = NSRange(text.startIndex..., in: text)
        guard let m = regex.firstMatch(in: text, options: [.anchored], range: range) else { return nil }
        return (0..<m.numberOfRanges).map { i in
            Range(m.range(at: i), in: text).map { String(text[$0]) } ?? ""
        }
    }

    /// Whether `pattern` compiles.
    static func isValid(_ pattern: String) -> Bool {
        (try? NSRegularExpression(pattern: pattern)) != nil
    }
}
