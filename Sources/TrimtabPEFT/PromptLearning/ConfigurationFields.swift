import Foundation

// Decoding helpers for adapter_config.json: every failure becomes an
// `AdapterError.invalidConfiguration` naming the field, and the shared JSON writer.

extension KeyedDecodingContainer {
    /// The value at `key`, or `nil` when the key is absent or `null`; a value of the wrong
    /// type throws an error naming the field.
    func field<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        do {
            return try decodeIfPresent(type, forKey: key)
        } catch {
            throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue,
                                                    reason: "is not a valid \(Self.typeName(T.self))")
        }
    }

    /// The value at `key`, which must be present and not `null`.
    func required<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        guard let value = try field(type, key) else {
            throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue, reason: "is missing")
        }
        return value
    }

    /// A positive integer at `key` (or `fallback` when absent or `null`).
    func positive(_ key: Key, default fallback: Int? = nil) throws -> Int {
        guard let value = try field(Int.self, key) ?? fallback else {
            throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue, reason: "is missing")
        }
        guard value > 0 else {
            throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue,
                                                    reason: "must be positive, got \(value)")
        }
        return value
    }

    /// A positive integer at `key`, or `nil` when absent or `null`.
    func optionalPositive(_ key: Key) throws -> Int? {
        try field(Int.self, key) == nil ? nil : positive(key)
    }

    /// A number in `[0, 1)` at `key` (or `fallback`).
    func probability(_ key: Key, default fallback: Double) throws -> Double {
        let value = try field(Double.self, key) ?? fallback
        guard value >= 0 && value < 1 else {
            throw AdapterError.invalidConfiguration(file: nil, field: key.stringValue,
                                                    reason: "must be in [0, 1), got \(value)")
        }
        return value
    }

    private static func typeName<T>(_ type: T.Type) -> String {
        switch type {
        case is Int.Type, is Int?.Type: return "integer"
        case is Double.Type, is Float.Type: return "number"
        case is Bool.Type: return "boolean"
        case is String.Type: return "string"
        case is [String].Type: return "list of strings"
        default: return "\(type)"
        }
    }
}

enum ConfigurationJSON {
    /// PEFT's layout: keys sorted, two-space indentation, explicit `null`s.
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
