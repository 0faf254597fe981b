import XCTest
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabText
@testable import TrimtabTrain

/// Every method of TrimtabPEFT (prompt learning, LoRA, DoRA, (IA)³, bottleneck adapters,
/// LN tuning, full fine-tuning) through the trainer: the loss falls, a stop
/// and resume continues exactly (P-tuning's encoder and the prefix projection live only
/// in `trainer_state/`), and the saved adapter, loaded back, evaluates as the trained one.
final class PEFTMethodTrainingTests: XCTestCase {
    let cases: [(String, TrainingMethod, MethodOptions)] = [
        ("prompt-tuning", .promptTuning, MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, seed: 1))),
        ("prompt-tuning-vocab", .promptTuning,
         MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, initialisation: .sampleVocab, seed: 1))),
        ("p-tuning-mlp", .pTuning,
         MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, encoder: .mlp, encoderHiddenSize: 16, seed: 1))),
        ("p-tuning-lstm", .pTuning,
         MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, encoder: .lstm, encoderHiddenSize: 16, seed: 1))),
        ("prefix-tuning", .prefixTuning, MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, seed: 1))),
        ("prefix-projection", .prefixTuning,
         MethodOptions(prompt: PromptMethodOptions(virtualTokens: 4, encoderHiddenSize: 16, prefixProjection: true, seed: 1))),
        ("adapter-pfeiffer", .adapter,
         MethodOptions(prompt: PromptMethodOptions(seed: 1), bottleneck: BottleneckOptions(reductionFactor: 4))),
        ("adapter-houlsby", .adapter,
         MethodOptions(prompt: PromptMethodOptions(seed: 1),
                       bottleneck: BottleneckOptions(architecture: .houlsby, reductionFactor: 4, nonLinearity: .tanh))),
        ("ln-tuning", .lnTuning, MethodOptions(prompt: PromptMethodOptions(seed: 1))),
        ("full", .full, MethodOptions(prompt: PromptMethodOptions(seed: 1))),
    ]

    let linearCases: [(String, LinearMethod, LinearMethodOptions)] = [
        ("lora", .lora, LinearMethodOptions(rank: 4, seed: 1)),
        ("lora-dropout-all-linear", .lora, LinearMethodOptions(rank: 2, dropout: 0.1, targetModules: .names(["all-linear"]), seed: 1)),
        ("dora", .lora, LinearMethodOptions(rank: 4, dora: true, seed: 1)),
        ("ia3", .ia3, LinearMethodOptions()),
    ]

    /// The same checks for every method: a fresh adapter for a seed.
    var allCases: [(String, (LanguageModel, Tokenizer, UInt64) throws -> Adapter, TrainingMethod?)] {
        cases.map { name, method, options in
            (name, { model, tok, seed in
                var o = options
                o.prompt.seed = seed
                return try makeAdapter(method, options: o, model: model, tokenizer: tok)
            }, method)
        } + linearCases.map { name, method, options in
            (name, { model, _, seed in
                var o = options
                o.seed = seed
                return try makeLinearAdapter(method, options: o, model: model)
            }, nil)
        }
    }

    func run(_ make: (LanguageModel, Tokenizer, UInt64) throws -> Adapter, method: TrainingMethod?, seed: UInt64 = 1,
             output: URL, stopAfter: Int? = nil, resume: URL? = nil) throws -> (Trainer, Adapter, StepRecorder, TrainingSummary) {
        let model = try TinySetup.model(trainable: method?.trainableWeights ?? { _ in false })
        let tok = try TinySetup.tokenizer()
        let train = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 32, seed: 1), source: "train.jsonl")
        let valid = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 8, seed: 2), source: "valid.jsonl")
        let task = try TaskFormat.infer(from: train, template: "Review: {text}\nSentiment:")
        var c = TrainingConfiguration()
        c.steps = 8
        c.batchSize = 4
        c.learningRate = method == .full ? 2e-3 : 3e-2
        c.evalEvery = 4
        let adapter = try make(model, tok, seed)
        let trainer = try Trainer(model: model, tokenizer: tok, adapter: adapter, task: task, train: train, valid: valid,
                                  configuration: c, output: output)
        let recorder = StepRecorder()
        recorder.trainer = trainer
        recorder.stopAfter = stopAfter
        trainer.observer = recorder
        return (trainer, adapter, recorder, try trainer.run(resumingFrom: resume))
    }

    func testEveryMethodTrainsResumesAndReloads() throws {
        for (name, make, method) in allCases {
            let straightDir = try TinySetup.temporaryDirectory("\(name)-straight")
            let baseBefore = try TinySetup.model().parameters.mapValues(\.value.scalars)
            let (trainer, adapter, straight, summary) = try run(make, method: method, output: straightDir)
            // Base-weight methods train the model's own (requiresGrad) weights; nothing else changes.
            XCTAssertEqual(trainer.model.parameters.filter { !$0.value.requiresGrad }.mapValues(\.value.scalars),
                           baseBefore.filter { trainer.model.parameters[$0.key]?.requiresGrad == false },
                           "\(name): only the adapter changes")
            XCTAssertEqual(summary.status, .completed, name)
            XCTAssertLessThan(straight.losses.suffix(3).reduce(0, +), straight.losses.prefix(3).reduce(0, +), "\(name): loss falls")

            let dir = try TinySetup.temporaryDirectory("\(name)-resumed")
            let (_, _, first, stopped) = try run(make, method: method, output: dir, stopAfter: 3)
            XCTAssertEqual(stopped.status, .interrupted, name)
            // The checkpoint, not the seed, decides the parameters.
            let (_, resumedAdapter, second, _) = try run(make, method: method, seed: 77, output: dir,
                                                         resume: try XCTUnwrap(Trainer.latestCheckpoint(in: dir)))
            if !name.contains("dropout") {
                // (Dropout masks come from the adapter's own counter, which a resume restarts.)
                XCTAssertEqual(first.losses + second.losses, straight.losses, "\(name): resumed losses")
            }
            for (key, p) in adapter.trainableParameters where !name.contains("dropout") {
                XCTAssertEqual(resumedAdapter.trainableParameters[key]?.value.scalars, p.value.scalars, "\(name): \(key)")
            }

            // The saved adapter evaluates as the one in memory.
            let (loaded, extras) = try AdapterFiles.load(from: straightDir.appendingPathComponent("adapter"), model: trainer.model)
            XCTAssertEqual(try TaskFormat(extras: try XCTUnwrap(extras)), trainer.encoder.task, name)
            adapter.isTraining = false
            loaded.isTraining = false
            let valid = try XCTUnwrap(trainer.validSet)
            let inMemory = try Evaluator(model: trainer.model, encoder: trainer.encoder, hooks: adapter).evaluate(valid)
            let reloaded = try Evaluator(model: trainer.model, encoder: trainer.encoder, hooks: loaded).evaluate(valid)
            XCTAssertEqual(reloaded.accuracy, inMemory.accuracy, name)
            XCTAssertEqual(reloaded.loss, inMemory.loss, accuracy: 1e-4, name)
        }
    }
}
