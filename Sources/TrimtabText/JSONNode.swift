import Foundation

/// Typed access to a `JSONSerialization` tree that reports the JSON path of bad fields.
struct JSONNode {
    let value: Any?
    let path: String

    init(_ value: Any?, path: String) {
        self.value = value
        self.path = path
    }

    subscript(key: String) -> JSONNode {
        JSONNode((value as? [String: Any])?[key], path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// True when the field is absent or JSON `null`.
    var isNull: Bool { value == nil || value is NSNull }

    var object: [String: Any]? { value as? [String: Any] }

    func string() throws -> String {
        guard let s = value as? String else { throw invalid("expected a string") }
        return s
    }

    var optionalString: String? { value as? String }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        if let b = value as? Bool { return b }
        throw invalid("expected true or false")
    }

    func int() throws -> Int {
        if let n = value as? NSNumber { return n.intValue }
        throw invalid("expected an integer")
    }

    func int(default fallback: Int) throws -> Int { isNull ? fallback : try int() }

    func double() throws -> Double {
        if let n = value as? NSNumber { return n.doubleValue }
        throw invalid("expected a number")
    }

    func array() throws -> [JSONNode] {
        guard let a = value as? [Any] else { throw invalid("expected an array") }
        return a.enumerated().map { JSONNode($1, path: "\(path)[\($0)]") }
    }

    func invalid(_ reason: String) -> TokenizerError { .invalidField(path: path, reason: reason) }
}
