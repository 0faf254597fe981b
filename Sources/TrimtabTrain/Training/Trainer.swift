import Foundation
import Synchronization
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor
import TrimtabText

/// Trains an adapter on a frozen model: batching, AdamW with a schedule, gradient
/// accumulation and clipping, validation, early stopping, checkpoints and exact resume.
///
/// ```swift
/// let trainer = try Trainer(model: model, tokenizer: tokenizer, adapter: adapter, task: task,
///                           train: train, valid: valid, configuration: configuration,
///                           output: URL(fileURLWithPath: "runs/rt-prompt"))
/// trainer.observer = ConsoleProgress()
/// let summary = try trainer.run()
/// ```
///
/// The run directory receives `config.json` (every setting), `metrics.jsonl` (one line a
/// step and one per evaluation), `report.html` (the curves), `summary.json`,
/// `checkpoint-<step>/` directories, the final adapter in `adapter/` and, with a
/// validation set, the best one in `best-adapter/`. A checkpoint holds the PEFT adapter
/// files and `trainer_state/` (trainable parameters, optimizer moments, step, data
/// position, generator, best metric); ``run(resumingFrom:)`` continues from one so that
/// the losses equal those of an uninterrupted run.
///
/// The loss of a step is the mean cross-entropy over all target tokens of its
/// `gradAccum` micro-batches, computed only at positions that carry loss (see
/// ``LanguageModelLoss``).
public final class Trainer {
    /// The frozen model.
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    /// The adapter being trained (its ``Adapter/trainableParameters`` are the optimizer's).
    public let adapter: Adapter
    /// How examples become tokens (shared with evaluation).
    public let encoder: ExampleEncoder
    public let configuration: TrainingConfiguration
    /// The training and validation data.
    public let trainSet: JSONLDataset
    public let validSet: JSONLDataset?
    /// The run directory.
    public let output: URL
    /// Receives progress events.
    public var observer: TrainingObserver?
    /// Further settings recorded in `config.json` under `"settings"` (the command line's
    /// model path, method and so on).
    public var recordedSettings: [String: String] = [:]

    let examples: [EncodedExample]
    let sampler: LengthGroupedSampler
    let parameterNames: [String]
    let parameters: [Variable]
    let optimizer: AdamW
    let fingerprint: String
    let stopRequested = Atomic<Bool>(false)

    /// Encodes the data and builds the optimizer.
    ///
    /// - Throws: ``TrainingError`` for a bad setting or an adapter without parameters,
    ///   ``DatasetError`` for data that does not fit the task (naming file and line).
    public init(model: LanguageModel, tokenizer: Tokenizer, adapter: Adapter, task: TaskFormat, train: JSONLDataset,
                valid: JSONLDataset?, configuration: TrainingConfiguration, output: URL) throws {
        try configuration.validate()
        guard train.shape == task.kind else {
            throw DatasetError.mixedShapes(file: train.source, line: train.lineNumbers.first ?? 1, expected: task.kind,
                                           found: train.shape)
        }
        if let valid, valid.shape != task.kind {
            throw DatasetError.mixedShapes(file: valid.source, line: valid.lineNumbers.first ?? 1, expected: task.kind,
                                           found: valid.shape)
        }
        self.model = model
        self.tokenizer = tokenizer
        self.adapter = adapter
        self.configuration = configuration
        self.trainSet = train
        self.validSet = valid
        self.output = output
        encoder = try ExampleEncoder(tokenizer: tokenizer, task: task, maxSequenceLength: configuration.maxSequenceLength)
        examples = try encoder.encode(train)
        if let valid { _ = try encoder.encode(valid) }  // report bad validation lines before training starts
        sampler = LengthGroupedSampler(lengths: examples.map(\.count), batchSize: configuration.batchSize,
                                       seed: configuration.seed, bucketBatches: configuration.bucketBatches)
        let trainable = adapter.trainableParameters
        guard !trainable.isEmpty else { throw TrainingError.nothingToTrain }
        parameterNames = trainable.keys.sorted()
        parameters = parameterNames.map { trainable[$0]! }
        for (name, p) in zip(parameterNames, parameters) where p.name == nil { p.name = name }
        do {
            optimizer = try AdamW(parameters: parameters, learningRate: configuration.learningRate,
                                  beta1: configuration.beta1, beta2: configuration.beta2, eps: configuration.adamEpsilon,
                                  weightDecay: configuration.weightDecay)
        } catch {
            throw TrainingError.invalidSetting(name: "lr", reason: "\(error)")
        }
        fingerprint = TrainerState.fingerprint(examples)
    }

    /// Asks the run to stop after the current step, writing a checkpoint (thread-safe;
    /// ``InterruptMonitor`` calls it on Ctrl-C).
    public func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Micro-batches per epoch.
    public var batchesPerEpoch: Int { sampler.batchesPerEpoch }

    /// Optimizer steps of the run: ``TrainingConfiguration/steps``, or enough for
    /// ``TrainingConfiguration/epochs`` passes.
    public var totalSteps: Int {
        configuration.steps
            ?? (configuration.epochs * batchesPerEpoch + configuration.gradientAccumulation - 1) / configuration.gradientAccumulation
    }

    /// Steps between evaluations.
    var evalInterval: Int {
        configuration.evalEvery ?? max(1, batchesPerEpoch / configuration.gradientAccumulation)
    }

    /// Trains until the last step, early stopping or a stop request.
    ///
    /// - Parameter checkpoint: a `checkpoint-<step>` directory of this run to continue
    ///   from (see ``latestCheckpoint(in:)``); its metrics after that step are dropped.
    /// - Throws: ``TrainingError`` (a checkpoint that does not match this run, a file
    ///   that cannot be written).
    @discardableResult
    public func run(resumingFrom checkpoint: URL? = nil) throws -> TrainingSummary {
        let fm = FileManager.default
        try fm.createDirectory(at: output, withIntermediateDirectories: true)
        var state: TrainerState
        if let checkpoint {
            state = try restore(from: checkpoint)
        } else {
            state = TrainerState(rng: SplitMix64(seed: configuration.seed), dataFingerprint: fingerprint,
                                 peftType: adapter.peftType, parameterNames: parameterNames, configuration: configuration)
        }
        let metrics = try MetricsLog(url: output.appendingPathComponent("metrics.jsonl"), keepingThrough: checkpoint == nil ? nil : state.step)
        try writeConfiguration()
        let totalSteps = self.totalSteps
        guard state.step <= totalSteps else {
            throw TrainingError.invalidCheckpoint(path: checkpoint?.path ?? "", reason:
                "it is at step \(state.step), past this run's \(totalSteps) steps; raise --steps or --epochs")
        }
        let schedule = try configuration.makeSchedule(totalSteps: totalSteps)
        observer?.trainingWillStart(TrainingPlan(
            totalSteps: totalSteps, startStep: state.step, examples: examples.count, batchesPerEpoch: batchesPerEpoch,
            trainableParameters: parameters.reduce(0) { $0 + $1.value.count },
            validationExamples: validSet?.count ?? 0, truncatedExamples: examples.filter(\.truncated).count))

        let sessionStart = Date()
        let elapsedBefore = state.elapsed
        var epochBatches = sampler.batches(epoch: state.epoch)
        let tape = Tape()
        let padId = tokenizer.padId ?? tokenizer.eosId ?? 0
        var status = TrainingSummary.Status.completed
        var lastEvaluation: EvaluationResult?
        var lastEvalStep = -1
        var lastCheckpoint: URL?
        var recentLosses: [Double] = []
        adapter.isTraining = true
        defer { adapter.isTraining = false }

        while state.step < totalSteps {
            if stopRequested.load(ordering: .relaxed) {
                status = .interrupted
                break
            }
            let stepStart = Date()
            var micro: [TrainingBatch] = []
            for _ in 0..<configuration.gradientAccumulation {
                if state.batchInEpoch >= epochBatches.count {
                    state.epoch += 1
                    state.batchInEpoch = 0
                    epochBatches = sampler.batches(epoch: state.epoch)
                }
                micro.append(TrainingBatch(epochBatches[state.batchInEpoch].map { examples[$0] }, padId: padId,
                                           lengthMultiple: 4))
                state.batchInEpoch += 1
            }
            let targets = micro.reduce(0) { $0 + $1.targetCount }
            optimizer.zeroGrad()
            var lossSum = 0.0, tokens = 0
            for batch in micro where batch.targetCount > 0 {
                tape.reset()
                let loss = LanguageModelLoss.loss(model: model, batch: batch, hooks: adapter, tape: tape)
                tape.backward(from: loss, gradient: Tensor(scalar: Float(batch.targetCount) / Float(targets)))
                lossSum += Double(loss.value.floats[0]) * Double(batch.targetCount)
                tokens += batch.tokenCount
            }
            let norm = clipGradientNorm(parameters, maxNorm: configuration.maxGradNorm ?? .infinity)
            let lr = configuration.learningRate * schedule.multiplier(step: state.step)
            optimizer.learningRate = lr
            if norm.isFinite {
                optimizer.step()
            } else {
                observer?.note("step \(state.step + 1): gradient norm is \(norm); update skipped")
            }
            optimizer.zeroGrad()
            state.step += 1
            state.tokensSeen += tokens
            let seconds = Date().timeIntervalSince(stepStart)
            state.elapsed = elapsedBefore + Date().timeIntervalSince(sessionStart)

            var record = MetricsRecord(kind: .train, step: state.step, epoch: epochProgress(state), elapsed: state.elapsed)
            let loss = targets > 0 ? lossSum / Double(targets) : 0
            record.loss = loss
            record.learningRate = Double(String(describing: lr)) ?? Double(lr)  // 0.03, not 0.029999999
            record.gradNorm = Double(norm)
            record.tokens = tokens
            record.tokensPerSecond = seconds > 0 ? Double(tokens) / seconds : nil
            record.peakMemory = ProcessMemory.peakResidentBytes
            try metrics.append(record)
            recentLosses.append(loss)
            if recentLosses.count > configuration.logEvery { recentLosses.removeFirst() }
            observer?.stepDidFinish(record, totalSteps: totalSteps)

            var stopEarly = false
            if validSet != nil, state.step % evalInterval == 0 || state.step == totalSteps {
                let result = try evaluateAndTrack(&state, metrics: metrics)
                lastEvaluation = result
                lastEvalStep = state.step
                if let patience = configuration.earlyStopPatience, state.evalsWithoutImprovement >= patience {
                    stopEarly = true
                }
            }
            if let every = configuration.saveEvery, state.step % every == 0 {
                lastCheckpoint = try saveCheckpoint(state)
            }
            if stopEarly {
                status = .earlyStopped
                observer?.note("early stop: no improvement in \(state.evalsWithoutImprovement) evaluations "
                               + "(best at step \(state.bestStep ?? 0))")
                break
            }
        }

        if status != .interrupted, validSet != nil, lastEvalStep != state.step {
            lastEvaluation = try evaluateAndTrack(&state, metrics: metrics)
        }
        if lastCheckpoint?.lastPathComponent != "checkpoint-\(state.step)" {
            lastCheckpoint = try saveCheckpoint(state)
        }
        var adapterDirectory: URL?
        if status != .interrupted {
            let directory = output.appendingPathComponent("adapter")
            try AtomicDirectory.publish(directory) { try saveAdapter(to: $0) }
            adapterDirectory = directory
        }
        let best = output.appendingPathComponent("best-adapter")
        let summary = TrainingSummary(
            status: status, steps: state.step, totalSteps: totalSteps,
            finalLoss: recentLosses.isEmpty ? nil : recentLosses.reduce(0, +) / Double(recentLosses.count),
            lastEvaluation: lastEvaluation, bestMetricName: lastEvaluation?.primaryMetric.name,
            bestMetric: state.bestMetric, bestStep: state.bestStep, elapsed: state.elapsed,
            adapterDirectory: adapterDirectory?.path,
            bestAdapterDirectory: fm.fileExists(atPath: best.path) && state.bestStep != nil ? best.path : nil,
            checkpointDirectory: lastCheckpoint?.path)
        let json = JSONEncoder()
        json.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicDirectory.write(try json.encode(summary), to: output.appendingPathComponent("summary.json"))
        try RunReport.write(to: output.appendingPathComponent("report.html"), title: output.lastPathComponent,
                            records: try MetricsLog.read(output.appendingPathComponent("metrics.jsonl")),
                            summary: summary, configuration: configurationJSON())
        observer?.trainingDidFinish(summary)
        return summary
    }

    /// Writes the adapter (PEFT files and the task) into `directory`.
    func saveAdapter(to directory: URL) throws {
        try AdapterExport.save(adapter, task: encoder.task, maxSequenceLength: configuration.maxSequenceLength,
                               to: directory)
    }

    /// Fractional epochs done.
    func epochProgress(_ state: TrainerState) -> Double {
        Double(state.epoch) + Double(state.batchInEpoch) / Double(max(1, batchesPerEpoch))
    }

    /// Evaluates on the validation set, logs it, and tracks the best metric (writing
    /// `best-adapter/` when it improves).
    func evaluateAndTrack(_ state: inout TrainerState, metrics: MetricsLog) throws -> EvaluationResult {
        guard let validSet else { preconditionFailure("no validation set") }
        adapter.isTraining = false
        defer { adapter.isTraining = true }
        let evaluator = Evaluator(model: model, encoder: encoder, hooks: adapter,
                                  batchSize: configuration.evalBatchSize ?? 2 * configuration.batchSize)
        let result = try evaluator.evaluate(validSet)
        var record = MetricsRecord(kind: .valid, step: state.step, epoch: epochProgress(state), elapsed: state.elapsed)
        record.validLoss = result.loss
        record.validPerplexity = result.perplexity
        record.validAccuracy = result.accuracy
        record.validExactMatch = result.exactMatch
        record.peakMemory = ProcessMemory.peakResidentBytes
        try metrics.append(record)
        let metric = result.primaryMetric
        let improved = state.bestMetric.map { metric.higherIsBetter ? metric.value > $0 : metric.value < $0 } ?? true
        if improved {
            state.bestMetric = metric.value
            state.bestStep = state.step
            state.evalsWithoutImprovement = 0
            try AtomicDirectory.publish(output.appendingPathComponent("best-adapter")) {
                try saveAdapter(to: $0)
            }
        } else {
            state.evalsWithoutImprovement += 1
        }
        observer?.evaluationDidFinish(result, record: record)
        return result
    }
}
