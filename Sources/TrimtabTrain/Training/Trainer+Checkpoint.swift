import Foundation
import TrimtabIO
import TrimtabTensor

extension Trainer {
    /// The `checkpoint-<step>` directory with the highest step in `directory`, if any.
    public static func latestCheckpoint(in directory: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let steps = names.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-") else { return nil }
            return Int(name.dropFirst("checkpoint-".count))
        }
        return steps.max().map { directory.appendingPathComponent("checkpoint-\($0)") }
    }

    /// Writes `checkpoint-<step>/` atomically: the adapter files, then `trainer_state/`.
    @discardableResult
    func saveCheckpoint(_ state: TrainerState) throws -> URL {
        let url = output.appendingPathComponent("checkpoint-\(state.step)")
        try AtomicDirectory.publish(url) { directory in
            try saveAdapter(to: directory)
            let stateDirectory = directory.appendingPathComponent("trainer_state")
            try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
            var values: [String: Tensor] = [:]
            for (name, p) in zip(parameterNames, parameters) { values[name] = p.value }
            try SafetensorsWriter.write(values, metadata: ["format": "trimtab-trainer-state"],
                                        to: stateDirectory.appendingPathComponent("parameters.safetensors"))
            try SafetensorsWriter.write(optimizer.stateTensors(), metadata: ["optimizer": "AdamW"],
                                        to: stateDirectory.appendingPathComponent("optimizer.safetensors"))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicDirectory.write(try encoder.encode(state), to: stateDirectory.appendingPathComponent("state.json"))
        }
        observer?.note("saved \(url.path)")
        return url
    }

    /// Loads a checkpoint's parameters and optimizer state into this trainer and returns
    /// its state, after checking it belongs to this run (same adapter parameters, same
    /// encoded data, same data-order settings).
    func restore(from checkpoint: URL) throws -> TrainerState {
        let directory = checkpoint.appendingPathComponent("trainer_state")
        func fail(_ reason: String) -> TrainingError { .invalidCheckpoint(path: checkpoint.path, reason: reason) }
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("state.json").path) else {
            throw fail("trainer_state/state.json is missing")
        }
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: data)
        } catch {
            throw fail("trainer_state/state.json is unreadable: \(error)")
        }
        guard state.version == TrainerState.currentVersion else { throw fail("state version \(state.version)") }
        guard state.peftType == adapter.peftType else {
            throw fail("it trained a \(state.peftType) adapter, this run a \(adapter.peftType) one")
        }
        guard state.parameterNames == parameterNames else {
            throw fail("its parameters [\(state.parameterNames.joined(separator: ", "))] are not this adapter's "
                       + "[\(parameterNames.joined(separator: ", "))]")
        }
        guard state.dataFingerprint == fingerprint else {
            throw fail("the training data (or its encoding) differs from the data it was trained on")
        }
        let saved = state.configuration, now = configuration
        for (name, same) in [("batch-size", saved.batchSize == now.batchSize),
                             ("grad-accum", saved.gradientAccumulation == now.gradientAccumulation),
                             ("seed", saved.seed == now.seed), ("max-seq-len", saved.maxSequenceLength == now.maxSequenceLength),
                             ("bucket-batches", saved.bucketBatches == now.bucketBatches)] where !same {
            throw fail("--\(name) differs from the checkpoint's; the data order would not continue")
        }
        let parameterFile: SafetensorsFile, optimizerFile: SafetensorsFile
        do {
            parameterFile = try SafetensorsFile(url: directory.appendingPathComponent("parameters.safetensors"))
            optimizerFile = try SafetensorsFile(url: directory.appendingPathComponent("optimizer.safetensors"))
        } catch {
            throw fail("\(error)")
        }
        var values: [Tensor] = []
        for (name, p) in zip(parameterNames, parameters) {
            guard parameterFile.contains(name) else { throw fail("parameter \(name) is missing") }
            let t = try parameterFile.tensor(name)
            guard t.shape == p.shape else { throw fail("parameter \(name) is \(t.shape), the adapter's \(p.shape)") }
            values.append(t)
        }
        var optimizerState: [String: Tensor] = [:]
        for name in optimizerFile.tensorNames { optimizerState[name] = try optimizerFile.tensor(name) }
        do {
            try optimizer.loadState(optimizerState, step: state.step)
        } catch {
            throw fail("optimizer state: \(error)")
        }
        for (p, t) in zip(parameters, values) { p.value.assign(from: t) }
        observer?.note("resuming from \(checkpoint.path) at step \(state.step)")
        return state
    }
}
