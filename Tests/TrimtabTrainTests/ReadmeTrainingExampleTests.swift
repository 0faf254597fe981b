import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTestSupport
import TrimtabTrain
import XCTest

/// The README's "Use from Swift" training example, line for line, on SmolLM2 and real
/// Rotten Tomatoes rows; only the file names and the step count (2 instead of 150, on 16
/// examples) differ, so the test stays fast.
final class ReadmeTrainingExampleTests: XCTestCase {
    func testTrainingExample() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let splits = TestAssets.root + "/data/rotten_tomatoes"
        try TestAssets.requireFile(splits + "/train.jsonl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-readme-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = try String(contentsOfFile: splits + "/train.jsonl", encoding: .utf8).split(separator: "\n")
        try (lines.prefix(16).joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("train.jsonl"),
                                                                   atomically: true, encoding: .utf8)
        try (lines.suffix(8).joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("test.jsonl"),
                                                                  atomically: true, encoding: .utf8)
        let trainFile = dir.appendingPathComponent("train.jsonl")
        let testFile = dir.appendingPathComponent("test.jsonl")
        let runDirectory = dir.appendingPathComponent("runs/rt")

        // --- README example ---
        let loaded = try ModelLoader.load(TestAssets.smolLM2, matrixType: .bf16)
        let adapter = try makeAdapter(.promptTuning,
                                      options: PromptMethodOptions(virtualTokens: 20, initialisation: .text,
                                          initText: "Classify the sentiment of the movie review as positive or negative."),
                                      model: loaded.model, tokenizer: loaded.tokenizer)
        let task = TaskFormat(kind: .classification,
                              classification: try ClassificationFormat(template: "Review: {text}\nSentiment:",
                                                                       labels: ["positive", "negative"]))
        var settings = TrainingConfiguration()
        settings.steps = 2            // README: 150
        settings.learningRate = 0.1
        let trainer = try Trainer(model: loaded.model, tokenizer: loaded.tokenizer, adapter: adapter, task: task,
                                  train: try JSONLDataset(contentsOf: trainFile), valid: nil,
                                  configuration: settings, output: runDirectory)
        _ = try trainer.run()         // runs/rt/adapter: a PEFT adapter directory

        let encoder = try ExampleEncoder(tokenizer: loaded.tokenizer, task: task, maxSequenceLength: 256)
        let (saved, _) = try AdapterFiles.load(from: runDirectory.appendingPathComponent("adapter"), model: loaded.model)
        let result = try Evaluator(model: loaded.model, encoder: encoder, hooks: saved)
            .evaluate(try JSONLDataset(contentsOf: testFile))

        let ids = loaded.tokenizer.encode("Review: A joyless, plodding remake.\nSentiment:", addSpecialTokens: false)
        let out = Generator(model: loaded.model).generate(prompt: ids, maxTokens: 2, hooks: saved)
        // --- end of README example ---
        XCTAssertEqual(out.tokens.count, 2)
        XCTAssertFalse(loaded.tokenizer.decode(out.tokens, skipSpecialTokens: true).isEmpty)

        let accuracy = try XCTUnwrap(result.accuracy)
        XCTAssertEqual(result.examples, 8)
        XCTAssertTrue((0...1).contains(accuracy))
        let trained = try XCTUnwrap(adapter.exportedTensors()["prompt_embeddings"])
        let reloaded = try XCTUnwrap(saved.exportedTensors()["prompt_embeddings"])
        XCTAssertEqual(trained.scalars, reloaded.scalars, "the saved adapter is the trained one")
        let config = try String(contentsOf: runDirectory.appendingPathComponent("adapter/adapter_config.json"),
                                encoding: .utf8)
        XCTAssertTrue(config.contains("\"PROMPT_TUNING\""))
    }
}
