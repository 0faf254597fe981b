import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
import TrimtabIO
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
@testable import TrimtabTrain

/// Records metrics and stops the trainer after a chosen step.
final class StepRecorder: TrainingObserver {
    var losses: [Double] = []
    var evaluations: [EvaluationResult] = []
    var notes: [String] = []
    var stopAfter: Int?
    weak var trainer: Trainer?

    func stepDidFinish(_ record: MetricsRecord, totalSteps: Int) {
        losses.append(record.loss ?? .nan)
        if record.step == stopAfter { trainer?.requestStop() }
    }

    func evaluationDidFinish(_ result: EvaluationResult, record: MetricsRecord) { evaluations.append(result) }
    func note(_ message: String) { notes.append(message) }
}

final class TrainerTests: XCTestCase {
    let template = "Review: {text}\nSentiment:"

    func makeTrainer(_ output: URL, configure: (inout TrainingConfiguration) -> Void = { _ in },
                     adapterSeed: UInt64 = 3) throws -> (Trainer, SoftPrompt, StepRecorder) {
        let model = try TinySetup.model()
        let tok = try TinySetup.tokenizer()
        let train = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 48, seed: 1), source: "train.jsonl")
        let valid = try JSONLDataset(examples: TinySetup.sentimentExamples(count: 16, seed: 2), source: "valid.jsonl")
        let task = try TaskFormat.infer(from: train, template: template,
                                        labelWords: [("positive", " positive"), ("negative", " negative")])
        var c = TrainingConfiguration()
        c.batchSize = 4
        c.learningRate = 0.1
        c.seed = 5
        configure(&c)
        let adapter = SoftPrompt(virtualTokens: 4, hiddenSize: 32, seed: adapterSeed)
        let trainer = try Trainer(model: model, tokenizer: tok, adapter: adapter, task: task, train: train,
                                  valid: valid, configuration: c, output: output)
        let recorder = StepRecorder()
        recorder.trainer = trainer
        trainer.observer = recorder
        return (trainer, adapter, recorder)
    }

    func testLossFallsOnAToyTask() throws {
        let dir = try TinySetup.temporaryDirectory()
        let (trainer, _, recorder) = try makeTrainer(dir) { c in
            c.steps = 100
            c.learningRate = 0.3
            c.warmupSteps = 5
            c.evalEvery = 50
        }
        let summary = try trainer.run()
        XCTAssertEqual(summary.status, .completed)
        XCTAssertEqual(recorder.losses.count, 100)
        let first = recorder.losses.prefix(5).reduce(0, +) / 5, last = recorder.losses.suffix(10).reduce(0, +) / 10
        // ln 384 ≈ 5.95 is the loss of a uniform guess; ln 2 ≈ 0.69 knows the two label words.
        XCTAssertGreaterThan(first, 5, "loss \(first) → \(last)")
        XCTAssertLessThan(last, 2, "loss \(first) → \(last)")
        XCTAssertEqual(recorder.evaluations.count, 2)
        XCTAssertLessThan(recorder.evaluations[1].loss, 2)
    }

    /// 10 steps straight equal 5 steps, a stop (as Ctrl-C asks), and a resumed 5: the same
    /// losses, validation metrics and final parameters, bit for bit.
    func testResumeContinuesExactly() throws {
        let configure: (inout TrainingConfiguration) -> Void = { c in
            c.steps = 10
            c.gradientAccumulation = 2
            c.warmupSteps = 3
            c.schedule = "cosine"
            c.weightDecay = 0.01
            c.evalEvery = 3
            c.saveEvery = 4
        }
        let straightDir = try TinySetup.temporaryDirectory("straight")
        let (straight, straightAdapter, straightRecorder) = try makeTrainer(straightDir, configure: configure)
        try straight.run()

        let dir = try TinySetup.temporaryDirectory("resumed")
        let (first, _, firstRecorder) = try makeTrainer(dir, configure: configure)
        firstRecorder.stopAfter = 5
        let interrupted = try first.run()
        XCTAssertEqual(interrupted.status, .interrupted)
        XCTAssertEqual(interrupted.steps, 5)
        XCTAssertNil(interrupted.adapterDirectory)
        let checkpoint = try XCTUnwrap(Trainer.latestCheckpoint(in: dir))
        XCTAssertEqual(checkpoint.lastPathComponent, "checkpoint-5")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint-4").path))

        // A new process: fresh model and an adapter initialised differently; the checkpoint restores it.
        let (second, resumedAdapter, secondRecorder) = try makeTrainer(dir, configure: configure, adapterSeed: 99)
        let done = try second.run(resumingFrom: checkpoint)
        XCTAssertEqual(done.status, .completed)
        XCTAssertEqual(done.steps, 10)

        XCTAssertEqual(firstRecorder.losses + secondRecorder.losses, straightRecorder.losses)
        XCTAssertEqual((firstRecorder.evaluations + secondRecorder.evaluations).map(\.loss), straightRecorder.evaluations.map(\.loss))
        XCTAssertEqual(resumedAdapter.prompt.value.scalars, straightAdapter.prompt.value.scalars)

        // The resumed run's metrics file reads as one run (no step logged twice).
        let straightMetrics = try MetricsLog.read(straightDir.appendingPathComponent("metrics.jsonl"))
        let resumedMetrics = try MetricsLog.read(dir.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(resumedMetrics.map(\.step), straightMetrics.map(\.step))
        XCTAssertEqual(resumedMetrics.compactMap(\.loss), straightMetrics.compactMap(\.loss))
        XCTAssertEqual(resumedMetrics.compactMap(\.validAccuracy), straightMetrics.compactMap(\.validAccuracy))

        // The final adapters are the same files' contents.
        let a = try SafetensorsFile(url: straightDir.appendingPathComponent("adapter/adapter_model.safetensors"))
        let b = try SafetensorsFile(url: dir.appendingPathComponent("adapter/adapter_model.safetensors"))
        XCTAssertEqual(try a.tensor("prompt_embeddings").scalars, try b.tensor("prompt_embeddings").scalars)
    }

    func testResumeRejectsAnotherRun() throws {
        let dir = try TinySetup.temporaryDirectory()
        let (trainer, _, _) = try makeTrainer(dir) { $0.steps = 2 }
        try trainer.run()
        let checkpoint = try XCTUnwrap(Trainer.latestCheckpoint(in: dir))
        let (other, _, _) = try makeTrainer(dir) { c in
            c.steps = 4
            c.batchSize = 3
        }
        XCTAssertThrowsError(try other.run(resumingFrom: checkpoint)) { error in
            XCTAssertTrue("\(error)".contains("--batch-size"), "\(error)")
        }
        let (past, _, _) = try makeTrainer(dir) { $0.steps = 1 }
        XCTAssertThrowsError(try past.run(resumingFrom: checkpoint)) { error in
            XCTAssertTrue("\(error)".contains("past this run's 1 steps"), "\(error)")
        }
    }

    func testEarlyStoppingOnAFlatMetric() throws {
        let dir = try TinySetup.temporaryDirectory()
        let (trainer, _, recorder) = try makeTrainer(dir) { c in
            c.steps = 20
            c.learningRate = 1e-12
            c.evalEvery = 2
            c.earlyStopPatience = 2
        }
        let summary = try trainer.run()
        XCTAssertEqual(summary.status, .earlyStopped)
        XCTAssertEqual(summary.steps, 6, "best at step 2, then two evaluations without improvement")
        XCTAssertEqual(summary.bestStep, 2)
        XCTAssertEqual(recorder.evaluations.count, 3)
        XCTAssertNotNil(summary.bestAdapterDirectory)
        XCTAssertTrue(recorder.notes.contains { $0.contains("early stop") })
    }

    func testRunDirectory() throws {
        let dir = try TinySetup.temporaryDirectory()
        let (trainer, _, _) = try makeTrainer(dir) { c in
            c.epochs = 2
            c.gradientAccumulation = 3
        }
        trainer.recordedSettings = ["model": "tiny", "method": "test-soft-prompt"]
        let summary = try trainer.run()
        XCTAssertEqual(trainer.batchesPerEpoch, 12)
        XCTAssertEqual(summary.totalSteps, 8, "2 epochs × 12 batches / 3")
        let fm = FileManager.default
        for file in ["config.json", "metrics.jsonl", "report.html", "summary.json", "adapter/adapter_config.json",
                     "adapter/adapter_model.safetensors", "adapter/trimtab_config.json", "best-adapter/adapter_model.safetensors",
                     "checkpoint-8/trainer_state/state.json", "checkpoint-8/trainer_state/optimizer.safetensors",
                     "checkpoint-8/trainer_state/parameters.safetensors", "checkpoint-8/adapter_model.safetensors"] {
            XCTAssertTrue(fm.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        XCTAssertFalse(try fm.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix(".") }, "no temporary files left")

        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as? [String: Any]
        let training = try XCTUnwrap(config?["training"] as? [String: Any])
        XCTAssertEqual(training["grad_accum"] as? Int, 3)
        XCTAssertEqual(training["batch_size"] as? Int, 4)
        XCTAssertEqual((config?["settings"] as? [String: String])?["model"], "tiny")
        XCTAssertEqual((config?["task"] as? [String: Any])?["kind"] as? String, "classification")
        XCTAssertEqual((config?["adapter"] as? [String: Any])?["peft_type"] as? String, "PROMPT_TUNING")

        let records = try MetricsLog.read(dir.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(records.filter { $0.kind == .train }.map(\.step), Array(1...8))
        XCTAssertEqual(records.filter { $0.kind == .valid }.map(\.step), [4, 8], "once per epoch (12 batches / 3)")
        XCTAssertTrue(records.allSatisfy { $0.elapsed >= 0 })
        XCTAssertNotNil(records.first?.tokensPerSecond)
        XCTAssertNotNil(records.first?.learningRate)

        let extras = try JSONDecoder().decode(AdapterExtras.self, from: Data(contentsOf: dir.appendingPathComponent("adapter/trimtab_config.json")))
        XCTAssertEqual(try TaskFormat(extras: extras), trainer.encoder.task)
        XCTAssertEqual(extras.template, template)
        XCTAssertEqual(extras.labelWords, [" positive", " negative"])
        XCTAssertEqual(extras.values["max_seq_len"], "256")

        // The report is well-formed XML (XHTML-compatible HTML) with inline SVG curves.
        let html = try Data(contentsOf: dir.appendingPathComponent("report.html"))
        let parser = XMLParser(data: html)
        XCTAssertTrue(parser.parse(), "report.html: \(String(describing: parser.parserError))")
        let text = String(decoding: html, as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "<svg").count - 1, 4, "loss, accuracy, lr, throughput")
        XCTAssertTrue(text.contains("valid loss"))
        XCTAssertFalse(text.contains("http://") && text.contains("<script"), "no external resources")
    }

    func testInvalidSettingsNameTheFlag() throws {
        let dir = try TinySetup.temporaryDirectory()
        for (configure, flag) in [({ (c: inout TrainingConfiguration) in c.batchSize = 0 }, "--batch-size"),
                                  ({ (c: inout TrainingConfiguration) in c.schedule = "zigzag" }, "--schedule"),
                                  ({ (c: inout TrainingConfiguration) in c.gradientAccumulation = -1 }, "--grad-accum"),
                                  ({ (c: inout TrainingConfiguration) in c.learningRate = 0 }, "--lr")] {
            XCTAssertThrowsError(try makeTrainer(dir, configure: configure)) { error in
                XCTAssertTrue("\(error)".hasPrefix(flag), "\(error)")
            }
        }
    }
}
