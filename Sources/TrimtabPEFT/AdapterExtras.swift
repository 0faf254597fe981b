/// What Trimtab keeps next to a PEFT adapter and PEFT itself has no place for: the task
/// the adapter was trained for, its prompt template, classification label words, and
/// free-form values. Saved as `trimtab_config.json`, so `adapter_config.json` holds only
/// keys PEFT knows.
public struct AdapterExtras: Codable, Equatable, Sendable {
    /// The task kind (`completion`, `chat`, `classification`, …).
    public var taskKind: String?
    /// The prompt template the adapter was trained with.
    public var template: String?
    /// Classification label words, in label order.
    public var labelWords: [String]?
    /// Anything else a trainer wants to keep (dataset, steps, metrics), as text.
    public var values: [String: String]

    enum CodingKeys: String, CodingKey {
        case taskKind = "task_kind"
        case template
        case labelWords = "label_words"
        case values
    }

    public init(taskKind: String? = nil, template: String? = nil, labelWords: [String]? = nil,
                values: [String: String] = [:]) {
        self.taskKind = taskKind
        self.template = template
        self.labelWords = labelWords
        self.values = values
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taskKind = try c.field(String.self, .taskKind)
        template = try c.field(String.self, .template)
        labelWords = try c.field([String].self, .labelWords)
        values = try c.field([String: String].self, .values) ?? [:]
    }
}
