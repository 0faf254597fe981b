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

/// Runs `build` on the inputs of fixture case `name` and checks the output `y` and the
/// gradients `d<input>` of Σ y ⊙ R (the case's `R`) against the reference, within
/// `atol + rtol·|expected|`; prints the largest difference.
public func checkAgainstFixture(_ file: FixtureFile, _ name: String, inputs: [String], atol: Float = 1e-5,
                                rtol: Float = 1e-4, _ build: (Tape, [Variable]) -> Variable) throws {
    let c = try XCTUnwrap(file.named(name), "fixture case \(name)")
    let vars = inputs.map { Variable(c.tensor($0), requiresGrad: true, name: $0) }
    let tape = Tape()
    let y = build(tape, vars)
    assertClose(y.value, c.tensor("y"), atol: atol, rtol: rtol, "\(name) y")
    tape.backward(from: y, gradient: c.tensor("R"))
    var worst = maxAbsDiff(y.value, c.tensor("y"))
    for (key, v) in zip(inputs, vars) {
        let grad = try XCTUnwrap(v.grad, "\(name): no gradient for \(key)")
        assertClose(grad, c.tensor("d" + key), atol: atol, rtol: rtol, "\(name) d\(key)")
        worst = max(worst, maxAbsDiff(grad, c.tensor("d" + key)))
    }
    print("\(name): max |diff| vs reference \(worst)")
}
