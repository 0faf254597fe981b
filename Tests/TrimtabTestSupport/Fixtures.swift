import Foundation
import XCTest
import TrimtabTensor

/// Reference numbers written by `scripts/reference/*.py` (PyTorch) and read here.
///
/// A fixture file is JSON: `{"generator": "...", "cases": [{"name": ..., "params": {...},
/// "tensors": {"x": {"shape": [...], "data": [...]}, ...}}]}`. Inputs, outputs and
/// reference gradients are all entries of `tensors`; each test knows which are which.
public struct FixtureFile: Decodable {
    public let generator: String
    public let cases: [FixtureCase]

    /// Loads `Fixtures/<name>.json` from a test target's bundle; fails loudly if it is missing.
    public static func load(_ name: String, bundle: Bundle, file: StaticString = #filePath,
                            line: UInt = #line) throws -> FixtureFile {
        guard let url = bundle.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            XCTFail("fixture Fixtures/\(name).json is missing: run scripts/reference/make_fixtures.sh", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONDecoder().decode(FixtureFile.self, from: Data(contentsOf: url))
    }

    public func named(_ name: String) -> FixtureCase? { cases.first { $0.name == name } }
}

public struct FixtureTensor: Decodable {
    public let shape: [Int]
    public let data: [Float]

    public var tensor: Tensor { try! Tensor(shape: shape, values: data) }
}

public struct FixtureCase: Decodable {
    public let name: String
    public let params: [String: FixtureValue]?
    public let tensors: [String: FixtureTensor]

    public func tensor(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture case \(name) has no tensor \(key)") }
        return t.tensor
    }

    public func int(_ key: String) -> Int { params?[key]?.int ?? 0 }
    public func double(_ key: String) -> Double { params?[key]?.double ?? 0 }
    public func bool(_ key: String) -> Bool { params?[key]?.bool ?? false }
    public func string(_ key: String) -> String? { params?[key]?.string }
    public func ints(_ key: String) -> [Int] { params?[key]?.ints ?? [] }
}

/// A JSON scalar or integer list parameter.
public enum FixtureValue: Decodable {
    case number(Double)
    case bool(Bool)
    case string(String)
    case list([Double])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .list(try c.decode([Double].self)) }
    }

    public var int: Int? { if case let .number(d) = self { return Int(d) }; return nil }
    public var double: Double? { if case let .number(d) = self { return d }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var ints: [Int]? { if case let .list(l) = self { return l.map { Int($0) } }; return nil }
}
