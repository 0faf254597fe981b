/// What a model is trained to do, stored with the adapter so evaluation and serving read
/// the input the same way training did.
public struct TaskFormat: Codable, Equatable, Sendable {
    /// The shape of the data.
    public var kind: ExampleShape
    /// Template and label words (classification only).
    public var classification: ClassificationFormat?

    /// A task for `kind`; classification needs a format.
    public init(kind: ExampleShape, classification: ClassificationFormat? = nil) {
        precondition(kind != .classification || classification != nil, "a classification task needs its format")
        self.kind = kind
        self.classification = kind == .classification ? classification : nil
    }

    /// The task of a data set: for classification, `template` (or the default) and the
    /// label words given (in their order, then the data set's other labels, sorted),
    /// each label without a word getting its default.
    ///
    /// - Throws: ``DatasetError`` when the format is invalid.
    public static func infer(from dataset: JSONLDataset, template: String? = nil,
                             labelWords: [(label: String, word: String)] = []) throws -> TaskFormat {
        guard dataset.shape == .classification else { return TaskFormat(kind: dataset.shape) }
        var labels = labelWords.map(\.label)
        for label in dataset.labels where !labels.contains(label) { labels.append(label) }
        let words = Dictionary(labelWords.map { ($0.label, $0.word) }, uniquingKeysWith: { a, _ in a })
        let format = try ClassificationFormat(template: template ?? ClassificationFormat.defaultTemplate,
                                              labels: labels, labelWords: words)
        return TaskFormat(kind: .classification, classification: format)
    }
}
