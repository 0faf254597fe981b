import Foundation

/// Progress on the console: on a terminal, one live line rewritten in place
/// (`step 120/1000  loss 0.412  lr 2.9e-02  1830 tok/s  ETA 6m05s  peak 812 MB`);
/// otherwise (a log file, CI) a plain line every `logEvery` steps.
public final class ConsoleProgress: TrainingObserver {
    /// Whether the live line is used.
    public let interactive: Bool
    /// Steps between plain lines when not interactive.
    public let logEvery: Int
    private var lastDraw = Date.distantPast
    private var lineShown = false
    private var startStep = 0
    private var sessionStart = Date()
    private var recentLoss: [Double] = []

    /// - Parameter interactive: `nil` asks whether standard error is a terminal.
    public init(logEvery: Int = 10, interactive: Bool? = nil) {
        self.interactive = interactive ?? (isatty(STDERR_FILENO) != 0)
        self.logEvery = max(1, logEvery)
    }

    public func trainingWillStart(_ plan: TrainingPlan) {
        startStep = plan.startStep
        sessionStart = Date()
        var text = "training \(plan.trainableParameters) parameters on \(plan.examples) examples "
            + "(\(plan.batchesPerEpoch) batches an epoch), \(plan.totalSteps) steps"
        if plan.startStep > 0 { text += ", resuming at step \(plan.startStep)" }
        if plan.validationExamples > 0 { text += "; validation: \(plan.validationExamples) examples" }
        if plan.truncatedExamples > 0 { text += "; \(plan.truncatedExamples) examples truncated to the maximum length" }
        print(text)
    }

    public func stepDidFinish(_ record: MetricsRecord, totalSteps: Int) {
        if let loss = record.loss { recentLoss.append(loss) }
        let done = record.step - startStep
        let seconds = Date().timeIntervalSince(sessionStart)
        let eta = done > 0 ? seconds / Double(done) * Double(totalSteps - record.step) : 0
        let mean = recentLoss.isEmpty ? 0 : recentLoss.reduce(0, +) / Double(recentLoss.count)
        var line = String(format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA ", record.step, totalSteps,
                          interactive ? (record.loss ?? 0) : mean, record.learningRate ?? 0,
                          record.tokensPerSecond ?? 0) + Self.duration(eta)
        if let peak = record.peakMemory { line += String(format: "  peak %.0f MB", Double(peak) / 1_048_576) }
        if interactive {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) > 0.1 || record.step == totalSteps else { return }
            lastDraw = now
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
            lineShown = true
        } else if record.step % logEvery == 0 || record.step == totalSteps {
            print(line)
            recentLoss.removeAll()
        }
    }

    public func evaluationDidFinish(_ result: EvaluationResult, record: MetricsRecord) {
        note("step \(record.step) valid: \(result.summary)")
    }

    public func note(_ message: String) {
        if lineShown {
            FileHandle.standardError.write(Data("\n".utf8))
            lineShown = false
        }
        print(message)
        fflush(stdout)
    }

    public func trainingDidFinish(_ summary: TrainingSummary) {
        var text = "\(summary.status.rawValue.replacingOccurrences(of: "_", with: " ")) after \(summary.steps) steps "
            + "in \(Self.duration(summary.elapsed))"
        if let loss = summary.finalLoss { text += String(format: ", final loss %.4f", loss) }
        if let name = summary.bestMetricName, let best = summary.bestMetric, let step = summary.bestStep {
            text += ", best valid \(name) " + String(format: "%.4f at step %d", best, step)
        }
        note(text)
    }

    /// `4m05s`, `1h02m`, `12s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
