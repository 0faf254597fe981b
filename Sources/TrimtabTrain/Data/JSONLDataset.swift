import Foundation
import TrimtabText

/// The examples of a JSONL file (one JSON object a line), all of one ``ExampleShape``.
///
/// ```swift
/// let train = try JSONLDataset(contentsOf: URL(fileURLWithPath: "train.jsonl"))
/// let valid = try JSONLDataset(contentsOf: validURL, expecting: train.shape)
/// ```
///
/// The shape of a line is read from its fields: `text` → ``ExampleShape/text``, `text` +
/// `label` → ``ExampleShape/classification``, `prompt` + `completion` →
/// ``ExampleShape/promptCompletion``, `messages` → ``ExampleShape/messages``. Other fields
/// (an `id`, a `source`) are ignored. Labels may be strings or integers (`1` becomes `"1"`).
/// Blank lines are not examples and are passed over; any other line that is not a
/// well-formed example throws a ``DatasetError`` naming the file and line.
public struct JSONLDataset: Sendable {
    /// Where the examples came from (a path, or a name given to ``init(data:source:expecting:)``).
    public let source: String
    /// The shape every example has.
    public let shape: ExampleShape
    /// The examples in file order.
    public let examples: [Example]
    /// The 1-based line number of each example.
    public let lineNumbers: [Int]

    /// Reads and validates a JSONL file.
    ///
    /// - Parameter expecting: the shape every line must have (a validation set must match
    ///   its training set); `nil` takes the shape of the first line.
    /// - Throws: ``DatasetError``.
    public init(contentsOf url: URL, expecting: ExampleShape? = nil) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, source: url.path, expecting: expecting)
    }

    /// Parses JSONL `data`; `source` names it in errors.
    public init(data: Data, source: String, expecting: ExampleShape? = nil) throws {
        self.source = source
        var examples: [Example] = []
        var lines: [Int] = []
        var shape = expecting
        let decoder = JSONDecoder()
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNumber += 1
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            var line = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let value: JSONValue
            do {
                value = try decoder.decode(JSONValue.self, from: line)
            } catch {
                throw DatasetError.invalidJSON(file: source, line: lineNumber, reason: Self.reason(error))
            }
            let example = try Self.example(value, file: source, line: lineNumber)
            if let expected = shape, example.shape != expected {
                throw DatasetError.mixedShapes(file: source, line: lineNumber, expected: expected, found: example.shape)
            }
            shape = example.shape
            examples.append(example)
            lines.append(lineNumber)
        }
        guard let shape, !examples.isEmpty else { throw DatasetError.empty(file: source) }
        self.shape = shape
        self.examples = examples
        self.lineNumbers = lines
    }

    /// Builds a data set from examples in memory (line numbers count from 1).
    ///
    /// - Throws: ``DatasetError/empty(file:)`` or ``DatasetError/mixedShapes(file:line:expected:found:)``.
    public init(examples: [Example], source: String = "<memory>") throws {
        guard let first = examples.first else { throw DatasetError.empty(file: source) }
        for (i, e) in examples.enumerated() where e.shape != first.shape {
            throw DatasetError.mixedShapes(file: source, line: i + 1, expected: first.shape, found: e.shape)
        }
        self.source = source
        self.shape = first.shape
        self.examples = examples
        self.lineNumbers = Array(1...examples.count)
    }

    /// Number of examples.
    public var count: Int { examples.count }

    /// The distinct labels of a classification set, sorted.
    public var labels: [String] {
        var seen = Set<String>()
        for case let .classification(_, label) in examples { seen.insert(label) }
        return seen.sorted()
    }

    // MARK: - Parsing one line

    static func example(_ value: JSONValue, file: String, line: Int) throws -> Example {
        guard case let .object(fields) = value else { throw DatasetError.notAnObject(file: file, line: line) }
        func string(_ key: String) throws -> String {
            guard case let .string(s)? = fields[key] else {
                throw DatasetError.wrongType(file: file, line: line, field: key, expected: "a string")
            }
            return s
        }
        let known: Set<String> = ["text", "label", "prompt", "completion", "messages"]
        let present = known.intersection(fields.keys)
        switch present {
        case ["text"]:
            return .text(try string("text"))
        case ["text", "label"]:
            let label: String
            switch fields["label"] {
            case let .string(s)?: label = s
            case let .integer(n)?: label = String(n)
            default: throw DatasetError.wrongType(file: file, line: line, field: "label", expected: "a string or an integer")
            }
            return .classification(text: try string("text"), label: label)
        case ["prompt", "completion"]:
            return .promptCompletion(prompt: try string("prompt"), completion: try string("completion"))
        case ["prompt"]:
            throw DatasetError.missingField(file: file, line: line, field: "completion", shape: .promptCompletion)
        case ["completion"]:
            throw DatasetError.missingField(file: file, line: line, field: "prompt", shape: .promptCompletion)
        case ["label"]:
            throw DatasetError.missingField(file: file, line: line, field: "text", shape: .classification)
        case ["messages"]:
            guard case let .array(items)? = fields["messages"], !items.isEmpty else {
                throw DatasetError.wrongType(file: file, line: line, field: "messages",
                                             expected: "a non-empty array of {\"role\",\"content\"} objects")
            }
            var messages: [ChatMessage] = []
            for (i, item) in items.enumerated() {
                guard case let .object(m) = item else {
                    throw DatasetError.wrongType(file: file, line: line, field: "messages[\(i)]", expected: "an object")
                }
                guard let role = m["role"] else {
                    throw DatasetError.missingField(file: file, line: line, field: "messages[\(i)].role", shape: .messages)
                }
                guard let content = m["content"] else {
                    throw DatasetError.missingField(file: file, line: line, field: "messages[\(i)].content", shape: .messages)
                }
                guard case let .string(r) = role, !r.isEmpty else {
                    throw DatasetError.wrongType(file: file, line: line, field: "messages[\(i)].role",
                                                 expected: "a non-empty string")
                }
                guard case let .string(c) = content else {
                    throw DatasetError.wrongType(file: file, line: line, field: "messages[\(i)].content", expected: "a string")
                }
                messages.append(ChatMessage(role: r, content: c))
            }
            return .messages(messages)
        default:
            throw DatasetError.unknownShape(file: file, line: line, keys: fields.keys.sorted())
        }
    }

    /// A short reason from a decoding error.
    private static func reason(_ error: Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            if let underlying = context.underlyingError { return "\(underlying.localizedDescription)" }
            return context.debugDescription
        }
        return error.localizedDescription
    }
}
