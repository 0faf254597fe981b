import Foundation

/// The network P-tuning reparameterises its virtual tokens through
/// (PEFT's `PromptEncoderReparameterizationType`).
public enum PromptEncoderKind: String, Codable, Sendable, CaseIterable {
    /// Linear–ReLU–Linear–ReLU–Linear (the default).
    case mlp = "MLP"
    /// A bidirectional LSTM followed by Linear–ReLU–Linear.
    case lstm = "LSTM"
}

/// The `adapter_config.json` of a P-tuning adapter (`peft_type: P_TUNING`).
///
/// P-tuning (Liu et al. 2021, "GPT Understands, Too", https://arxiv.org/abs/2103.10385)
/// computes the virtual tokens with a small encoder over `P` trainable inputs. Reference:
/// peft `tuners/p_tuning/config.py`.
public struct PTuningConfiguration: Codable, Equatable, Sendable {
    public static let peftType = "P_TUNING"

    public var settings: PromptLearningSettings
    /// `encoder_reparameterization_type`.
    public var encoder: PromptEncoderKind
    /// `encoder_hidden_size` (PEFT fills in `token_dim` when unset).
    public var encoderHiddenSize: Int
    /// `encoder_num_layers`: LSTM layers (the MLP always has three linear layers).
    public var encoderLayers: Int
    /// `encoder_dropout`: dropout between LSTM layers while training.
    public var encoderDropout: Double

    enum CodingKeys: String, CodingKey {
        case encoder = "encoder_reparameterization_type"
        case encoderHiddenSize = "encoder_hidden_size"
        case encoderLayers = "encoder_num_layers"
        case encoderDropout = "encoder_dropout"
    }

    public init(settings: PromptLearningSettings, encoder: PromptEncoderKind = .mlp, encoderHiddenSize: Int? = nil,
                encoderLayers: Int = 2, encoderDropout: Double = 0) {
        self.settings = settings
        self.encoder = encoder
        self.encoderHiddenSize = encoderHiddenSize ?? settings.tokenDim
        self.encoderLayers = encoderLayers
        self.encoderDropout = encoderDropout
    }

    public init(from decoder: Decoder) throws {
        settings = try PromptLearningSettings(from: decoder, expecting: Self.peftType)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.field(String.self, .encoder) ?? PromptEncoderKind.mlp.rawValue
        guard let encoder = PromptEncoderKind(rawValue: raw) else {
            throw AdapterError.invalidConfiguration(file: nil, field: "encoder_reparameterization_type",
                                                    reason: "is '\(raw)'; expected MLP or LSTM")
        }
        self.encoder = encoder
        encoderHiddenSize = try c.positive(.encoderHiddenSize, default: settings.tokenDim)
        encoderLayers = try c.positive(.encoderLayers, default: 2)
        encoderDropout = try c.probability(.encoderDropout, default: 0)
    }

    public func encode(to encoder: Encoder) throws {
        try settings.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.encoder, forKey: .encoder)
        try c.encode(encoderHiddenSize, forKey: .encoderHiddenSize)
        try c.encode(encoderLayers, forKey: .encoderLayers)
        try c.encode(encoderDropout, forKey: .encoderDropout)
    }
}
