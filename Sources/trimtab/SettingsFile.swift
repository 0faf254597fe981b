import ArgumentParser
import Foundation
import TrimtabTrain
import Yams

/// A `--config FILE.yaml` of command settings: a mapping whose keys are the command's
/// flag names (`batch-size: 8`; `batch_size` is accepted too). Unknown keys and values
/// of the wrong type are errors naming the file and key.
struct SettingsFile {
    let path: String
    private let values: [String: Node]

    /// An empty file (no `--config`).
    init() {
        path = ""
        values = [:]
    }

    /// Reads `path`, accepting only `known` keys.
    init(path: String, known: Set<String>) throws {
        self.path = path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("--config: cannot read \(path)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ValidationError("--config: \(path) is not valid YAML: \(error)")
        }
        guard let root else {
            values = [:]
            return
        }
        guard let mapping = root.mapping else {
            throw ValidationError("--config: \(path) must be a mapping of settings (key: value)")
        }
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let raw = key.string else { throw ValidationError("--config: \(path): a key is not a string") }
            let name = raw.replacingOccurrences(of: "_", with: "-")
            guard known.contains(name) else {
                throw ValidationError("--config: \(path): unknown setting '\(raw)'; known: \(known.sorted().joined(separator: ", "))")
            }
            values[name] = value
        }
        self.values = values
    }

    private func fail(_ key: String, _ expected: String) -> ValidationError {
        ValidationError("--config: \(path): \(key): expected \(expected), got '\(values[key].flatMap(\.scalar?.string) ?? "a collection")'")
    }

    func string(_ key: String) throws -> String? {
        guard let node = values[key] else { return nil }
        guard let scalar = node.scalar else { throw fail(key, "a string") }
        return scalar.string
    }

    func int(_ key: String) throws -> Int? {
        guard let node = values[key] else { return nil }
        guard let value = node.int else { throw fail(key, "an integer") }
        return value
    }

    func double(_ key: String) throws -> Double? {
        guard let node = values[key] else { return nil }
        guard let value = node.float ?? node.int.map(Double.init) else { throw fail(key, "a number") }
        return value
    }

    func bool(_ key: String) throws -> Bool? {
        guard let node = values[key] else { return nil }
        guard let value = node.bool else { throw fail(key, "true or false") }
        return value
    }

    /// Label words: a mapping `label: word` (in order) or a string as `--labels` takes it.
    func labelWords(_ key: String) throws -> [(label: String, word: String)]? {
        guard let node = values[key] else { return nil }
        if let mapping = node.mapping {
            return try mapping.map { k, v in
                guard let label = k.string, let word = v.string else { throw fail(key, "a mapping of label: word") }
                return (label, word)
            }
        }
        guard let spec = node.scalar?.string else { throw fail(key, "label=word pairs or a mapping") }
        do {
            return try ClassificationFormat.parseLabelWords(spec)
        } catch {
            throw ValidationError("--config: \(path): \(key): \(error)")
        }
    }
}
