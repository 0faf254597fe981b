import Foundation

/// The metrics of one evaluation of a data set.
public struct EvaluationResult: Codable, Equatable, Sendable {
    /// The data set's shape.
    public var kind: ExampleShape
    /// Examples evaluated.
    public var examples: Int
    /// Target tokens scored.
    public var tokens: Int
    /// Mean negative log-likelihood per target token (nats).
    public var loss: Double
    /// `exp(loss)`.
    public var perplexity: Double
    /// Classification: fraction of examples whose label word has the highest total
    /// log-probability.
    public var accuracy: Double?
    /// Classification: the label order of ``confusion``.
    public var labels: [String]?
    /// Classification: `confusion[gold][predicted]` counts.
    public var confusion: [[Int]]?
    /// Prompt/completion: fraction of greedy generations equal to the completion (both
    /// with surrounding whitespace trimmed); `nil` when generation was not run.
    public var exactMatch: Double?
    /// Wall-clock seconds.
    public var seconds: Double

    /// The metric early stopping and reports follow: accuracy for classification, exact
    /// match when measured, otherwise the loss.
    public var primaryMetric: (name: String, value: Double, higherIsBetter: Bool) {
        if let accuracy { return ("accuracy", accuracy, true) }
        if let exactMatch { return ("exact_match", exactMatch, true) }
        return ("loss", loss, false)
    }

    /// One line for logs: `accuracy 0.8120  loss 0.4411  ppl 1.55  (1362 examples, 3.1 s)`.
    public var summary: String {
        var parts: [String] = []
        if let accuracy { parts.append(String(format: "accuracy %.4f", accuracy)) }
        if let exactMatch { parts.append(String(format: "exact match %.4f", exactMatch)) }
        parts.append(String(format: "loss %.4f", loss))
        parts.append(String(format: "ppl %.3f", perplexity))
        parts.append(String(format: "(%d examples, %.1f s)", examples, seconds))
        return parts.joined(separator: "  ")
    }

    enum CodingKeys: String, CodingKey {
        case kind, examples, tokens, loss, perplexity, accuracy, labels, confusion
        case exactMatch = "exact_match"
        case seconds
    }
}
