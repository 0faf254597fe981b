import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabText

/// A tiny random Llama (hidden 16, 2 layers, 4 query heads over 2 key/value heads) and a
/// word-level tokenizer for it, for fast checks of every method.
enum TinyModel {
    static let configuration = LlamaConfiguration(vocabularySize: 40, hiddenSize: 16, intermediateSize: 32,
                                                  layerCount: 2, headCount: 4, kvHeadCount: 2, ropeTheta: 10_000)

    /// Weights N(0, (0.02·scale)²): a larger scale gives logits and gradients of order one,
    /// which finite differences in f32 need.
    static func make(seed: UInt64 = 7, scale: Float = 15) -> LlamaModel {
        var weights = LlamaModel.randomWeights(configuration, seed: seed)
        for (name, t) in weights where t.rank == 2 {
            let scaled = t.copy()
            for i in 0..<scaled.count { scaled.floats[i] *= scale }
            weights[name] = scaled
        }
        return try! LlamaModel(configuration: configuration, weights: weights, source: "tiny")
    }

    static let words = ["[UNK]", "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away",
                        "good", "bad", "film", "great", "movie", "review", "is", "was"]

    static let tokenizer: Tokenizer = {
        let vocab = words.enumerated().map { "\"\($0.element)\": \($0.offset)" }.joined(separator: ", ")
        let json = #"{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"#
            + vocab + "}}}"
        return try! Tokenizer(tokenizerJSON: Data(json.utf8))
    }()

    /// Every kind of fresh adapter the factory makes, with a label.
    static let methods: [(label: String, method: PromptMethod, options: PromptMethodOptions)] = [
        ("prompt tuning, random", .promptTuning, PromptMethodOptions(virtualTokens: 3, seed: 1)),
        ("prompt tuning, sample vocab", .promptTuning,
         PromptMethodOptions(virtualTokens: 3, initialisation: .sampleVocab, seed: 2)),
        ("prompt tuning, text", .promptTuning,
         PromptMethodOptions(virtualTokens: 5, initialisation: .text, initText: "the cat sat", seed: 3)),
        ("P-tuning, MLP", .pTuning, PromptMethodOptions(virtualTokens: 3, encoder: .mlp, encoderHiddenSize: 8, seed: 4)),
        ("P-tuning, LSTM", .pTuning,
         PromptMethodOptions(virtualTokens: 3, encoder: .lstm, encoderHiddenSize: 5, seed: 5)),
        ("prefix tuning", .prefixTuning, PromptMethodOptions(virtualTokens: 3, seed: 6)),
        ("prefix tuning, text", .prefixTuning,
         PromptMethodOptions(virtualTokens: 4, initialisation: .text, initText: "the good film", seed: 8)),
        ("prefix tuning, projection", .prefixTuning,
         PromptMethodOptions(virtualTokens: 3, encoderHiddenSize: 6, prefixProjection: true, seed: 7)),
    ]

    /// Full logits `[B, V + T, vocab]` of `batch` with `adapter` attached.
    static func logits(_ model: LanguageModel, _ adapter: ModelHooks?, _ batch: TokenBatch, tape: Tape) -> Variable {
        let (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: adapter, cache: nil)
        return model.logits(hidden, tape: tape)
    }
}

extension TinyModel {
    /// LoRA, DoRA and (IA)³ adapters whose update is not zero from the start (LoRA with
    /// `init_lora_weights = false`, as PEFT's own test matrix does; (IA)³ vectors moved away
    /// from 1), so every check sees the method act.
    static let linearMethods: [(label: String, make: (LanguageModel) throws -> Adapter)] = [
        ("LoRA q_proj,v_proj", { model in
            try makeLinearAdapter(.lora, options: LinearMethodOptions(rank: 4, alpha: 8, initialisation: .bool(false), seed: 21),
                                  model: model)
        }),
        ("LoRA all-linear, rsLoRA, dropout, layer 1", { model in
            try makeLinearAdapter(.lora, options: LinearMethodOptions(
                rank: 2, alpha: 4, dropout: 0.1, targetModules: .names(["all-linear"]), layers: [1], rsLoRA: true,
                initialisation: .bool(false), seed: 22), model: model)
        }),
        ("DoRA q_proj,o_proj,down_proj", { model in
            try makeLinearAdapter(.lora, options: LinearMethodOptions(
                rank: 3, alpha: 6, targetModules: .names(["q_proj", "o_proj", "down_proj"]), dora: true,
                initialisation: .bool(false), seed: 23), model: model)
        }),
        ("(IA)³", { model in
            let adapter = try makeLinearAdapter(.ia3, options: LinearMethodOptions(), model: model)
            perturb(adapter, seed: 24)
            return adapter
        }),
    ]

    /// Moves every trainable value by U(−0.3, 0.3) (so (IA)³ vectors leave 1).
    static func perturb(_ adapter: Adapter, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for name in adapter.trainableParameters.keys.sorted() {
            guard let p = adapter.trainableParameters[name] else { continue }
            for i in 0..<p.value.count { p.value.floats[i] += (rng.nextFloat() * 2 - 1) * 0.3 }
        }
    }
}
