/// A GGUF metadata value.
///
/// The convenience getters convert between compatible types and return nil otherwise:
/// ``int`` reads any integer type that fits in `Int`, ``double`` and ``float`` read any
/// number, ``strings`` / ``ints`` / ``floats`` read arrays whose every element converts.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// An array: the declared element type and the elements (arrays may nest).
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value's type code.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// The text of a string value.
    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// An integer value of any width, if it fits in `Int`.
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// Any numeric value as a `Double`.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        case let .uint64(v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    /// Any numeric value as a `Float`.
    public var float: Float? {
        if case let .float32(v) = self { return v }
        return double.map(Float.init)
    }

    /// A boolean value.
    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    /// The elements of an array value.
    public var array: [GGUFValue]? {
        if case let .array(_, elements) = self { return elements }
        return nil
    }

    /// An array of strings.
    public var strings: [String]? { convertedElements(\.string) }

    /// An array of integers.
    public var ints: [Int]? { convertedElements(\.int) }

    /// An array of numbers as `Float`.
    public var floats: [Float]? { convertedElements(\.float) }

    private func convertedElements<T>(_ convert: (GGUFValue) -> T?) -> [T]? {
        guard let elements = array else { return nil }
        var out: [T] = []
        out.reserveCapacity(elements.count)
        for element in elements {
            guard let value = convert(element) else { return nil }
            out.append(value)
        }
        return out
    }
}

extension GGUFValue: CustomStringConvertible {
    /// The value as text; arrays longer than 8 elements are abbreviated.
    public var description: String {
        switch self {
        case let .string(s): return s.count > 120 ? "\"\(s.prefix(117))…\"" : "\"\(s)\""
        case let .bool(b): return String(b)
        case let .float32(v): return String(v)
        case let .float64(v): return String(v)
        case let .array(type, elements):
            let shown = elements.prefix(8).map(\.description).joined(separator: ", ")
            let more = elements.count > 8 ? ", … (\(elements.count) \(type) values)" : ""
            return "[\(shown)\(more)]"
        case let .uint8(v): return String(v)
        case let .int8(v): return String(v)
        case let .uint16(v): return String(v)
        case let .int16(v): return String(v)
        case let .uint32(v): return String(v)
        case let .int32(v): return String(v)
        case let .uint64(v): return String(v)
        case let .int64(v): return String(v)
        }
    }
}
