import Foundation

extension Trainer {
    /// The run's resolved settings, as written to `config.json`.
    struct RunConfiguration: Encodable {
        struct DataSettings: Encodable {
            var train: String
            var valid: String?
            var trainExamples: Int
            var validExamples: Int?
            var truncatedExamples: Int
            var targetTokens: Int
            enum CodingKeys: String, CodingKey {
                case train, valid
                case trainExamples = "train_examples"
                case validExamples = "valid_examples"
                case truncatedExamples = "truncated_examples"
                case targetTokens = "target_tokens"
            }
        }
        struct ModelSettings: Encodable {
            var architecture: String
            var vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int
            enum CodingKeys: String, CodingKey {
                case architecture
                case vocabularySize = "vocab_size"
                case hiddenSize = "hidden_size"
                case layers, heads
                case kvHeads = "kv_heads"
            }
        }
        var training: TrainingConfiguration
        var totalSteps: Int
        var batchesPerEpoch: Int
        var task: TaskFormat
        var data: DataSettings
        var model: ModelSettings
        var adapter: JSONValue?
        var trainableParameters: Int
        var settings: [String: String]
        enum CodingKeys: String, CodingKey {
            case training
            case totalSteps = "total_steps"
            case batchesPerEpoch = "batches_per_epoch"
            case task, data, model, adapter
            case trainableParameters = "trainable_parameters"
            case settings
        }
    }

    /// `config.json` as pretty-printed JSON.
    func configurationJSON() throws -> String {
        let run = RunConfiguration(
            training: configuration, totalSteps: totalSteps, batchesPerEpoch: batchesPerEpoch, task: encoder.task,
            data: .init(train: trainSet.source, valid: validSet?.source, trainExamples: trainSet.count,
                        validExamples: validSet?.count, truncatedExamples: examples.filter(\.truncated).count,
                        targetTokens: examples.reduce(0) { $0 + $1.lossTokenCount }),
            model: .init(architecture: model.architecture, vocabularySize: model.vocabularySize,
                         hiddenSize: model.hiddenSize, layers: model.layerCount, heads: model.headCount,
                         kvHeads: model.kvHeadCount),
            adapter: try? JSONDecoder().decode(JSONValue.self, from: adapter.encodedConfiguration()),
            trainableParameters: parameters.reduce(0) { $0 + $1.value.count },
            settings: recordedSettings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(run), as: UTF8.self)
    }

    /// Writes `config.json` into the run directory.
    func writeConfiguration() throws {
        try AtomicDirectory.write(Data(try configurationJSON().utf8), to: output.appendingPathComponent("config.json"))
    }
}
