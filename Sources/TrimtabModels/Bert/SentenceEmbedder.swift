import Foundation
import TrimtabTensor
import TrimtabText

/// Sentence embeddings from a sentence-transformers directory (all-MiniLM-L6-v2 and the
/// like): a BERT encoder, a pooling module and an optional L2 normalisation.
///
/// Reads `modules.json` (a `Transformer`, then `Pooling`, then optionally `Normalize`;
/// without it: mean pooling, no normalisation, as sentence-transformers assumes for a
/// plain model), `1_Pooling/config.json` (which pooling), `sentence_bert_config.json`
/// (`max_seq_length`, `do_lower_case`), the encoder and `tokenizer.json`.
/// Reference: sentence-transformers `models/Transformer.py`, `Pooling.py`, `Normalize.py`.
public final class SentenceEmbedder {
    /// How token states become one vector; several modes are concatenated in this order.
    public enum Pooling: String, CaseIterable, Sendable {
        /// The first token's state (`[CLS]`).
        case cls
        /// The element-wise maximum over valid tokens.
        case max
        /// The mean over valid tokens.
        case mean
        /// The sum over valid tokens divided by √(token count).
        case meanSqrtLength
        /// The mean weighted by position (1, 2, …, T of the padded batch).
        case weightedMean
        /// The last valid token's state.
        case lastToken

        /// The `1_Pooling/config.json` key that switches the mode on.
        var configurationKey: String {
            switch self {
            case .cls: return "pooling_mode_cls_token"
            case .max: return "pooling_mode_max_tokens"
            case .mean: return "pooling_mode_mean_tokens"
            case .meanSqrtLength: return "pooling_mode_mean_sqrt_len_tokens"
            case .weightedMean: return "pooling_mode_weightedmean_tokens"
            case .lastToken: return "pooling_mode_lasttoken"
            }
        }
    }

    public let model: BertModel
    public let tokenizer: Tokenizer
    /// Longest token sequence fed to the encoder, special tokens included; longer texts
    /// are cut at the end (before the closing special tokens).
    public let maxSequenceLength: Int
    public let pooling: [Pooling]
    /// Whether embeddings are scaled to unit L2 norm.
    public let normalize: Bool
    /// Whether texts are lowercased before tokenizing (`do_lower_case`).
    public let lowercase: Bool
    /// Where the model was read from.
    public let source: String

    /// Special tokens around every sequence (`[CLS]` … `[SEP]` for BERT).
    private let leadingSpecials: [Int32]
    private let trailingSpecials: [Int32]

    /// Length of every embedding.
    public var dimension: Int { model.hiddenSize * pooling.count }

    /// Loads the sentence-transformers model in `directory`.
    ///
    /// - Parameter matrixType: storage of the frozen encoder matrices (`f32` or `bf16`).
    /// - Throws: ``ModelError`` naming the file and field at fault (an unsupported module,
    ///   a pooling mode or a malformed configuration), or the encoder's loading errors.
    public init(directory: URL, matrixType: DType = .f32) throws {
        source = directory.path
        var normalize = false
        var poolingPath: String?
        let modulesURL = directory.appendingPathComponent("modules.json")
        if let data = FileManager.default.contents(atPath: modulesURL.path) {
            guard let modules = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
                throw ModelError.invalidConfiguration(field: "modules.json", reason: "is not a JSON list of modules",
                                                      source: modulesURL.path)
            }
            for (index, module) in modules.enumerated() {
                let type = (module["type"] as? String) ?? ""
                let kind = type.split(separator: ".").last.map(String.init) ?? type
                switch kind {
                case "Transformer" where index == 0:
                    guard ((module["path"] as? String) ?? "").isEmpty else {
                        throw ModelError.invalidConfiguration(
                            field: "modules[0].path", reason: "must be the model directory itself (\"\")",
                            source: modulesURL.path)
                    }
                case "Pooling" where poolingPath == nil:
                    poolingPath = (module["path"] as? String) ?? "1_Pooling"
                case "Normalize":
                    normalize = true
                default:
                    throw ModelError.invalidConfiguration(
                        field: "modules[\(index)].type",
                        reason: "is '\(type)'; supported: Transformer, then Pooling, then Normalize",
                        source: modulesURL.path)
                }
            }
        }
        self.normalize = normalize
        pooling = try Self.poolingModes(directory, path: poolingPath)

        var maxLength: Int?
        var lowercase = false
        let bertConfigURL = directory.appendingPathComponent("sentence_bert_config.json")
        if let data = FileManager.default.contents(atPath: bertConfigURL.path) {
            guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw ModelError.invalidConfiguration(field: "sentence_bert_config.json", reason: "is not a JSON object",
                                                      source: bertConfigURL.path)
            }
            maxLength = (config["max_seq_length"] as? NSNumber)?.intValue
            lowercase = (config["do_lower_case"] as? Bool) ?? false
        }
        self.lowercase = lowercase

        model = try BertModel.load(directory: directory, matrixType: matrixType)
        tokenizer = try Tokenizer(directory: directory)
        let positions = model.configuration.maxPositions
        if let maxLength, maxLength < 2 {
            throw ModelError.invalidConfiguration(field: "max_seq_length", reason: "must be at least 2, got \(maxLength)",
                                                  source: bertConfigURL.path)
        }
        maxSequenceLength = min(maxLength ?? positions, positions)

        // The special tokens a single sequence is wrapped in, from a probe.
        let plain = tokenizer.encode("a", addSpecialTokens: false)
        let full = tokenizer.encode("a", addSpecialTokens: true)
        guard full.count >= plain.count,
              let start = (0...(full.count - plain.count)).first(where: { Array(full[$0..<($0 + plain.count)]) == plain })
        else {
            throw ModelError.invalidConfiguration(field: "post_processor", reason: "does not keep the text's tokens",
                                                  source: directory.appendingPathComponent("tokenizer.json").path)
        }
        leadingSpecials = Array(full[..<start])
        trailingSpecials = Array(full[(start + plain.count)...])
    }

    /// The ids the encoder sees for `text`: special tokens included, cut to
    /// ``maxSequenceLength`` as sentence-transformers truncates.
    public func tokenize(_ text: String) -> [Int32] {
        let body = tokenizer.encode(lowercase ? text.lowercased() : text, addSpecialTokens: false)
        let room = max(0, maxSequenceLength - leadingSpecials.count - trailingSpecials.count)
        return leadingSpecials + body.prefix(room) + trailingSpecials
    }

    /// One embedding per text, in order.
    ///
    /// Texts are encoded in batches of similar length (right-padded, with a mask), then
    /// pooled over their valid tokens and, if the model lists `Normalize`, scaled to unit
    /// length.
    ///
    /// - Parameters:
    ///   - batchSize: texts per forward pass (≥ 1).
    ///   - hooks: a PEFT method attached to the encoder, or `nil`.
    /// - Returns: `texts.count` vectors of ``dimension`` values.
    /// - Throws: ``ModelError/invalidConfiguration(field:reason:source:)`` for a batch
    ///   size below 1.
    public func embed(_ texts: [String], batchSize: Int = 32, hooks: ModelHooks? = nil) throws -> [[Float]] {
        guard batchSize >= 1 else {
            throw ModelError.invalidConfiguration(field: "batchSize", reason: "must be at least 1, got \(batchSize)",
                                                  source: "SentenceEmbedder.embed")
        }
        let ids = texts.map(tokenize)
        // Longest first, so each batch pads little (sentence-transformers sorts too).
        let order = ids.indices.sorted { ids[$0].count != ids[$1].count ? ids[$0].count > ids[$1].count : $0 < $1 }
        var result = [[Float]](repeating: [], count: texts.count)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let members = Array(order[start..<min(start + batchSize, order.count)])
            let batch = TokenBatch(rows: members.map { ids[$0] }, padId: tokenizer.padId ?? 0)
            let tape = Tape(recording: false)
            let (hidden, virtualCount) = model.hiddenStates(batch, tape: tape, hooks: hooks)
            let pooled = pool(hidden.value, batch: batch, virtualCount: virtualCount)
            for (row, index) in members.enumerated() { result[index] = pooled[row] }
        }
        return result
    }

    /// Pools `hidden` `[B, V + T, C]` over each row's valid real tokens.
    private func pool(_ hidden: Tensor, batch: TokenBatch, virtualCount: Int) -> [[Float]] {
        let c = model.hiddenSize, t = hidden.shape[1], length = batch.length
        let h = hidden.floats
        return (0..<batch.batchSize).map { row in
            let valid = (0..<length).filter { batch.mask[row * length + $0] != 0 }
            func state(_ j: Int) -> UnsafeMutablePointer<Float> { h + (row * t + virtualCount + j) * c }
            var out: [Float] = []
            out.reserveCapacity(dimension)
            for mode in pooling {
                var v = [Float](repeating: 0, count: c)
                switch mode {
                case .cls:
                    for k in 0..<c { v[k] = state(0)[k] }
                case .lastToken:
                    if let last = valid.last { for k in 0..<c { v[k] = state(last)[k] } }
                case .max:
                    if !valid.isEmpty { v = [Float](repeating: -.infinity, count: c) }
                    for j in valid { for k in 0..<c { v[k] = Swift.max(v[k], state(j)[k]) } }
                case .mean, .meanSqrtLength:
                    for j in valid { for k in 0..<c { v[k] += state(j)[k] } }
                    let n = Float(valid.count)
                    let divisor = mode == .mean ? Swift.max(n, 1e-9) : Swift.max(n, 1e-9).squareRoot()
                    for k in 0..<c { v[k] /= divisor }
                case .weightedMean:
                    var total: Float = 0
                    for j in valid {
                        let w = Float(j + 1)
                        total += w
                        for k in 0..<c { v[k] += w * state(j)[k] }
                    }
                    for k in 0..<c { v[k] /= Swift.max(total, 1e-9) }
                }
                out += v
            }
            if normalize {
                // As torch.nn.functional.normalize: x / max(‖x‖, 1e-12).
                let norm = Swift.max(out.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                for k in out.indices { out[k] /= norm }
            }
            return out
        }
    }

    /// The pooling modes `path/config.json` switches on (mean without a Pooling module).
    private static func poolingModes(_ directory: URL, path: String?) throws -> [Pooling] {
        guard let path else { return [.mean] }
        let url = directory.appendingPathComponent(path).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidConfiguration(field: "\(path)/config.json", reason: "is missing or not a JSON object",
                                                  source: directory.path)
        }
        // Newer files may name one mode directly: "pooling_mode": "mean".
        if let named = config["pooling_mode"] as? String {
            let byName: [String: Pooling] = ["cls": .cls, "max": .max, "mean": .mean, "mean_sqrt_len_tokens": .meanSqrtLength,
                                             "weightedmean": .weightedMean, "lasttoken": .lastToken]
            guard let mode = byName[named] else {
                throw ModelError.invalidConfiguration(field: "pooling_mode", reason: "is '\(named)'; supported: "
                                                      + byName.keys.sorted().joined(separator: ", "), source: url.path)
            }
            return [mode]
        }
        let modes = Pooling.allCases.filter { (config[$0.configurationKey] as? Bool) ?? false }
        guard !modes.isEmpty else {
            throw ModelError.invalidConfiguration(field: "pooling_mode_mean_tokens", reason: "and every other pooling mode are off",
                                                  source: url.path)
        }
        return modes
    }
}
