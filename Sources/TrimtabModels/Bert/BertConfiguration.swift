import TrimtabTensor

/// The configuration of a BERT encoder (BERT, MiniLM, the sentence-transformers models
/// built on them).
///
/// Mirrors Hugging Face's `config.json`; snake_case names appear only in `CodingKeys`.
/// Reference: transformers `models/bert/configuration_bert.py`.
public struct BertConfiguration: Codable, Sendable, Equatable {
    public var modelType: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    /// The feed-forward activation as written in `hidden_act` (`gelu`, `gelu_new`, …).
    public var hiddenActivation: String
    public var maxPositions: Int
    /// Number of token types (segment A/B); 2 for BERT.
    public var typeVocabularySize: Int
    public var layerNormEps: Float
    /// Only `absolute` is implemented.
    public var positionEmbeddingType: String
    public var padTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case hiddenActivation = "hidden_act"
        case maxPositions = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps"
        case positionEmbeddingType = "position_embedding_type"
        case padTokenId = "pad_token_id"
    }

    public init(modelType: String = "bert", vocabularySize: Int, hiddenSize: Int, layerCount: Int, headCount: Int,
                intermediateSize: Int, hiddenActivation: String = "gelu", maxPositions: Int = 512,
                typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12, positionEmbeddingType: String = "absolute",
                padTokenId: Int? = 0) {
        self.modelType = modelType
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.hiddenActivation = hiddenActivation
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
        self.positionEmbeddingType = positionEmbeddingType
        self.padTokenId = padTokenId
    }

    /// Decodes `config.json`, with transformers' defaults for the optional fields.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            modelType: try c.decodeIfPresent(String.self, forKey: .modelType) ?? "bert",
            vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
            hiddenSize: try c.decode(Int.self, forKey: .hiddenSize),
            layerCount: try c.decode(Int.self, forKey: .layerCount),
            headCount: try c.decode(Int.self, forKey: .headCount),
            intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
            hiddenActivation: try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu",
            maxPositions: try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 512,
            typeVocabularySize: try c.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2,
            layerNormEps: try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12,
            positionEmbeddingType: try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute",
            padTokenId: try? c.decodeIfPresent(Int.self, forKey: .padTokenId))
    }

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / max(headCount, 1) }

    /// The GELU form `hidden_act` names (`nil` for an activation Trimtab lacks).
    public var geluApproximation: GELUApproximation? {
        switch hiddenActivation {
        case "gelu": return GELUApproximation.none
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .tanh
        default: return nil
        }
    }

    /// Checks that the fields describe an encoder Trimtab can run.
    ///
    /// - Parameter source: where the configuration came from, for the error message.
    /// - Throws: ``ModelError/invalidConfiguration(field:reason:source:)`` naming the
    ///   first offending `config.json` field.
    public func validate(source: String) throws {
        func fail(_ key: CodingKeys, _ reason: String) -> ModelError {
            ModelError.invalidConfiguration(field: key.rawValue, reason: reason, source: source)
        }
        guard modelType == "bert" else {
            throw fail(.modelType, "is '\(modelType)'; this encoder implements 'bert'")
        }
        for (key, value) in [(CodingKeys.vocabularySize, vocabularySize), (.hiddenSize, hiddenSize),
                             (.layerCount, layerCount), (.headCount, headCount),
                             (.intermediateSize, intermediateSize), (.maxPositions, maxPositions),
                             (.typeVocabularySize, typeVocabularySize)] where value <= 0 {
            throw fail(key, "must be positive, got \(value)")
        }
        guard hiddenSize % headCount == 0 else {
            throw fail(.headCount, "(\(headCount)) must divide hidden_size (\(hiddenSize))")
        }
        guard geluApproximation != nil else {
            throw fail(.hiddenActivation, "is '\(hiddenActivation)'; supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast")
        }
        guard positionEmbeddingType == "absolute" else {
            throw fail(.positionEmbeddingType, "is '\(positionEmbeddingType)'; only 'absolute' is supported")
        }
        guard layerNormEps > 0 && layerNormEps.isFinite else {
            throw fail(.layerNormEps, "must be a positive number, got \(layerNormEps)")
        }
    }
}
