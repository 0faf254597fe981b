import TrimtabModels
import TrimtabTensor

/// The base model's input embedding table, as PEFT finds it for prompt-tuning init.
enum WordEmbeddings {
    /// Checkpoint names of input embedding tables, by architecture family.
    static let knownNames = ["model.embed_tokens.weight", "embeddings.word_embeddings.weight",
                             "transformer.wte.weight"]

    /// The `[vocab, hidden]` table: a known name, else (as PEFT) the first parameter, by
    /// name, whose rows number the vocabulary.
    static func table(of model: LanguageModel) throws -> Variable {
        let parameters = model.parameters
        for name in knownNames {
            if let table = parameters[name], table.shape == [model.vocabularySize, model.hiddenSize] { return table }
        }
        for name in parameters.keys.sorted() {
            if let table = parameters[name], table.shape == [model.vocabularySize, model.hiddenSize] { return table }
        }
        throw AdapterError.invalidOption(field: "initialisation",
                                         reason: "needs the model's word embeddings, and no parameter has shape "
                                             + "[\(model.vocabularySize), \(model.hiddenSize)]")
    }

    /// Rows `ids` of the table as a fresh f32 tensor `[ids.count, hidden]` (bf16 and f16
    /// tables are widened, as PEFT casts the copied rows to float32).
    static func rows(of model: LanguageModel, ids: [Int32]) throws -> Tensor {
        let table = try table(of: model)
        for id in ids where id < 0 || Int(id) >= model.vocabularySize {
            throw AdapterError.invalidOption(field: "initialisation",
                                             reason: "token id \(id) is outside the vocabulary of \(model.vocabularySize)")
        }
        let frozen = Variable(table.value)
        return Tape(recording: false).embedding(frozen, ids: ids, shape: [ids.count]).value
    }
}
