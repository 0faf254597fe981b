import Foundation
import TrimtabPEFT

extension TaskFormat {
    /// The task as PEFT adapter extras (`trimtab_config.json`): kind, template and label
    /// words, with the label names and the maximum length under `values`.
    public func adapterExtras(maxSequenceLength: Int? = nil) -> AdapterExtras {
        var values: [String: String] = [:]
        if let c = classification, let data = try? JSONEncoder().encode(c.labels) {
            values["labels"] = String(decoding: data, as: UTF8.self)
        }
        if let maxSequenceLength { values["max_seq_len"] = String(maxSequenceLength) }
        return AdapterExtras(taskKind: kind.extrasKind, template: classification?.template,
                             labelWords: classification.map { c in c.labels.map { c.labelWords[$0] ?? " " + $0 } },
                             values: values)
    }

    /// The task stored in adapter extras, or `nil` when they name no task kind.
    ///
    /// Label names come from `values["labels"]`; without them (extras written elsewhere)
    /// each label is its word without surrounding spaces.
    /// - Throws: ``DatasetError/invalidTaskFormat(_:)`` for an unknown kind or label words
    ///   that do not fit the labels.
    public init?(extras: AdapterExtras) throws {
        guard let name = extras.taskKind else { return nil }
        guard let kind = ExampleShape(extrasKind: name) else {
            throw DatasetError.invalidTaskFormat("the adapter's task kind \"\(name)\" is not one Trimtab trains "
                                                 + "(text, completion, chat, classification)")
        }
        guard kind == .classification else {
            self.init(kind: kind)
            return
        }
        let words = extras.labelWords ?? []
        var labels = words.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        if let json = extras.values["labels"] {
            guard let decoded = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
                throw DatasetError.invalidTaskFormat("the adapter's labels \(json) are not a JSON array of strings")
            }
            labels = decoded
        }
        guard labels.count == words.count, !words.isEmpty else {
            throw DatasetError.invalidTaskFormat("the adapter has \(words.count) label words for \(labels.count) labels")
        }
        let format = try ClassificationFormat(template: extras.template ?? ClassificationFormat.defaultTemplate,
                                              labels: labels,
                                              labelWords: Dictionary(zip(labels, words), uniquingKeysWith: { a, _ in a }))
        self.init(kind: .classification, classification: format)
    }
}

extension ExampleShape {
    /// The task kind name of adapter extras.
    var extrasKind: String {
        switch self {
        case .text: return "text"
        case .promptCompletion: return "completion"
        case .messages: return "chat"
        case .classification: return "classification"
        }
    }

    init?(extrasKind: String) {
        switch extrasKind {
        case "text": self = .text
        case "completion", "prompt-completion": self = .promptCompletion
        case "chat", "messages": self = .messages
        case "classification": self = .classification
        default: return nil
        }
    }
}
