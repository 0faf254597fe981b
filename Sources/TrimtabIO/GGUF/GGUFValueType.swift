/// Type codes of GGUF metadata values (`gguf_type`).
public enum GGUFValueType: UInt32, CaseIterable, Sendable, Codable {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// Encoded size of one value, or nil for strings and arrays (variable length).
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value of this type can take in a file (a string is at least
    /// its 8-byte length, an array its 4-byte type and 8-byte count). Bounds element
    /// counts before anything is allocated.
    var minimumEncodedSize: Int {
        switch self {
        case .string: return 8
        case .array: return 12
        default: return fixedSize ?? 1
        }
    }
}
