/// How a classification example becomes text: a template around the input and a label
/// word (verbaliser) per label.
///
/// The template holds `{text}` where the input goes (`"Review: {text}\nSentiment:"`); the
/// model is trained to write the label word right after it, and evaluated by rank
/// classification: the label whose word is most probable after the templated input wins.
/// A label's word defaults to the label with a leading space (`positive` → `" positive"`),
/// so it is a separate token in byte-level BPE vocabularies.
public struct ClassificationFormat: Codable, Equatable, Sendable {
    /// The template used when none is given.
    public static let defaultTemplate = "Text: {text}\nLabel:"

    /// The template, with one `{text}`.
    public let template: String
    /// The labels in a fixed order (ties in rank classification go to the earlier one).
    public let labels: [String]
    /// The word the model writes for each label.
    public let labelWords: [String: String]

    /// Validates and builds a format.
    ///
    /// - Parameters:
    ///   - labels: the label order; labels without an entry in `labelWords` get the default word.
    /// - Throws: ``DatasetError/invalidTaskFormat(_:)`` when the template has no `{text}`,
    ///   there are no labels, or a word is empty or used for two labels.
    public init(template: String = ClassificationFormat.defaultTemplate, labels: [String],
                labelWords: [String: String] = [:]) throws {
        guard template.contains("{text}") else {
            throw DatasetError.invalidTaskFormat("the template \(template.debugDescription) has no {text}")
        }
        guard !labels.isEmpty else { throw DatasetError.invalidTaskFormat("a classification task needs labels") }
        guard Set(labels).count == labels.count else {
            throw DatasetError.invalidTaskFormat("labels repeat: \(labels.joined(separator: ", "))")
        }
        var words: [String: String] = [:]
        for label in labels {
            let word = labelWords[label] ?? " " + label
            guard !word.isEmpty else { throw DatasetError.invalidTaskFormat("label \"\(label)\" has an empty word") }
            if let other = words.first(where: { $0.value == word })?.key {
                throw DatasetError.invalidTaskFormat("labels \"\(other)\" and \"\(label)\" share the word \(word.debugDescription)")
            }
            words[label] = word
        }
        self.template = template
        self.labels = labels
        self.labelWords = words
    }

    /// The template with `text` filled in.
    public func render(_ text: String) -> String {
        template.replacingOccurrences(of: "{text}", with: text)
    }

    /// The word of `label` (nil for an unknown label).
    public func word(for label: String) -> String? { labelWords[label] }

    /// Parses label words as written on the command line: `positive=" positive",negative=" negative"`.
    ///
    /// Pairs are separated by commas; a word may be double-quoted (needed for leading
    /// spaces or commas; `\"`, `\\` and `\n` escape inside quotes; spaces before the
    /// opening quote are ignored). An unquoted word is taken as written. Returns the pairs in
    /// the order given, which becomes the label order.
    /// - Throws: ``DatasetError/invalidTaskFormat(_:)`` naming the bad pair.
    public static func parseLabelWords(_ spec: String) throws -> [(label: String, word: String)] {
        var pairs: [(String, String)] = []
        var chars = Array(spec)[...]
        func fail(_ why: String) -> DatasetError {
            DatasetError.invalidTaskFormat("--labels \(spec.debugDescription): \(why)")
        }
        while !chars.isEmpty {
            guard let eq = chars.firstIndex(of: "=") else { throw fail("expected label=word") }
            let label = String(chars[chars.startIndex..<eq]).trimmingSpaces()
            guard !label.isEmpty, !label.contains(",") else { throw fail("expected label=word before \"=\"") }
            chars = chars[(eq + 1)...]
            var word = ""
            let spaces = chars.prefix { $0 == " " }.count
            if chars.dropFirst(spaces).first == "\"" {
                chars = chars.dropFirst(spaces + 1)
                var closed = false
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if c == "\"" { closed = true; break }
                    if c == "\\", let next = chars.first {
                        chars = chars.dropFirst()
                        word.append(next == "n" ? "\n" : next)
                    } else {
                        word.append(c)
                    }
                }
                guard closed else { throw fail("unterminated quote in the word of \"\(label)\"") }
                let rest = chars.prefix { $0 != "," }
                guard rest.allSatisfy({ $0 == " " }) else { throw fail("text after the quoted word of \"\(label)\"") }
                chars = chars.dropFirst(rest.count)
            } else {
                let raw = chars.prefix { $0 != "," }
                word = String(raw)
                chars = chars.dropFirst(raw.count)
            }
            if chars.first == "," { chars = chars.dropFirst() }
            guard !word.isEmpty else { throw fail("label \"\(label)\" has an empty word") }
            guard !pairs.contains(where: { $0.0 == label }) else { throw fail("label \"\(label)\" appears twice") }
            pairs.append((label, word))
        }
        guard !pairs.isEmpty else { throw fail("no label=word pairs") }
        return pairs
    }
}

extension String {
    /// The string without leading and trailing spaces.
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
