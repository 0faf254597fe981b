import Foundation
import XCTest
import TrimtabTensor

/// Reference numbers written by `scripts/reference/*.py` (PyTorch) and read here.
///
/// A fixture file is JSON: `{"generator": "...", "cases": [{"name": ..., "params": {...},
/// "tensors": {"x": {"shape": [...], "data": [...]}, ...}}]}`. Inputs, outputs and
/// reference gradients are all entries of `tensors`; each test knows which are which.
struct FixtureFile: Decodable {
    let generator: String
    let cases: [FixtureCase]

    /// Loads `Fixtures/<name>.json` from the test bundle; fails loudly if it is missing.
    static func load(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> FixtureFile {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            XCTFail("fixture Fixtures/\(name).json is missing: run scripts/reference/make_fixtures.sh", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONDecoder().decode(FixtureFile.self, from: Data(contentsOf: url))
    }

    func named(_ name: String) -> FixtureCase? { cases.first { $0.name == name } }
}

struct FixtureTensor: Decodable {
    let shape: [Int]
    let data: [Float]

    var tensor: Tensor { try! Tensor(shape: shape, values: data) }
}

struct FixtureCase: Decodable {
    let name: String
    let params: [String: FixtureValue]?
    let tensors: [String: FixtureTensor]

    func tensor(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture case \(name) has no tensor \(key)") }
        return t.tensor
    }

    func int(_ key: String) -> Int { params?[key]?.int ?? 0 }
    func double(_ key: String) -> Double { params?[key]?.double ?? 0 }
    func bool(_ key: String) -> Bool { params?[key]?.bool ?? false }
    func string(_ key: String) -> String? { params?[key]?.string }
    func ints(_ key: String) -> [Int] { params?[key]?.ints ?? [] }
}

/// A JSON scalar or integer list parameter.
enum FixtureValue: Decodable {
    case number(Double)
    case bool(Bool)
    case string(String)
    case list([Double])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .list(try c.decode([Double].self)) }
    }

    var int: Int? { if case let .number(d) = self { return Int(d) }; return nil }
    var double: Double? { if case let .number(d) = self { return d }; return nil }
    var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    var string: String? { if case let .string(s) = self { return s }; return nil }
    var ints: [Int]? { if case let .list(l) = self { return l.map { Int($0) } }; return nil }
}
