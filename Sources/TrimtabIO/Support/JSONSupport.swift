// Helpers for decoding JSON headers with Codable.

/// A coding key for JSON objects with arbitrary keys.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension DecodingError {
    /// One line: where in the JSON and what went wrong.
    var summary: String {
        func where_(_ context: Context) -> String {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "at '\(path)': \(context.debugDescription)"
        }
        switch self {
        case let .typeMismatch(_, context), let .valueNotFound(_, context),
             let .keyNotFound(_, context), let .dataCorrupted(context):
            return where_(context)
        @unknown default:
            return "\(self)"
        }
    }
}
