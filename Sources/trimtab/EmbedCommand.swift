import ArgumentParser
import Foundation
import TrimtabModels

/// `trimtab embed --model DIR --text S [--text S ...] [--json]`: sentence embeddings.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed sentences with a sentence-transformers BERT model (e.g. all-MiniLM-L6-v2).",
        discussion: "Prints each text's embedding (its dimension and first values) and, for two or more texts, "
            + "their cosine similarity matrix. With --json, prints the full vectors as one JSON array."
    )

    @Option(help: ArgumentHelp(
        "A sentence-transformers directory (modules.json, config.json, model.safetensors, tokenizer.json).",
        discussion: "Default: all-minilm-l6-v2 in the asset cache ($TRIMTAB_CACHE or ~/.cache/trimtab).",
        valueName: "dir"))
    var model: String?

    @Option(name: .customLong("text"), help: "A text to embed (repeat for several).")
    var texts: [String] = []

    @Flag(help: "Print [{\"text\": ..., \"embedding\": [...]}, ...] with the full vectors.")
    var json = false

    @Option(help: "How many leading values of each embedding to show without --json.")
    var show = 8

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("give at least one --text") }
        guard show >= 0 else { throw ValidationError("--show must be non-negative") }
    }

    func run() throws {
        let directory = model ?? AssetCache.path("models/all-minilm-l6-v2")
        let embedder = try SentenceEmbedder(directory: URL(fileURLWithPath: directory))
        let vectors = try embedder.embed(texts)
        if json {
            struct Item: Encodable {
                let text: String
                let embedding: [Float]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(zip(texts, vectors).map { Item(text: $0, embedding: $1) }),
                         as: UTF8.self))
            return
        }
        print("model \(directory): dimension \(embedder.dimension), pooling \(embedder.pooling.map(\.rawValue).joined(separator: "+"))"
              + (embedder.normalize ? ", normalized" : "") + ", max \(embedder.maxSequenceLength) tokens")
        for (i, (text, v)) in zip(texts, vectors).enumerated() {
            let tokens = embedder.tokenize(text).count
            let head = v.prefix(show).map { String(format: "%+.4f", $0) }.joined(separator: " ")
            print("[\(i)] \(Self.quoted(text)) (\(tokens) tokens)")
            print("    [\(head)\(v.count > show ? " …" : "")]")
        }
        guard vectors.count >= 2 else { return }
        print("cosine similarity")
        let labels = vectors.indices.map { "[\($0)]" }
        let width = max(8, (labels.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(1, width - s.count)) + s }
        print(pad("") + labels.map(pad).joined())
        for (i, a) in vectors.enumerated() {
            print(pad(labels[i]) + vectors.map { pad(String(format: "%.4f", Self.cosine(a, $0))) }.joined())
        }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for (x, y) in zip(a, b) {
            dot += x * y
            na += x * x
            nb += y * y
        }
        return dot / max((na * nb).squareRoot(), 1e-12)
    }

    static func quoted(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return "\"" + (flat.count > 70 ? String(flat.prefix(69)) + "…" : flat) + "\""
    }
}
