import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor

/// Continuous batching over one frozen model: every request (a ``GenerationJob``) gets a
/// row of a shared KV cache, and one forward pass per step decodes the next token of every
/// row, whatever adapter each row carries.
///
/// A new job is prefilled alone (batch size 1, with its own adapter, so prompt tuning's
/// virtual tokens go into its cache), then its cache row joins the batch between two
/// decode steps (``KVCache/appendRow(from:row:)``). Rows sit at different positions; the
/// cache masks the positions a row does not use and keeps each row's next rotary position,
/// so a row's tokens are the ones it would get alone. A finished or cancelled row leaves
/// at once and frees its place for a waiting job.
///
/// The forward passes run on one dedicated thread (they are long and CPU-bound, and must
/// not block Swift concurrency's cooperative threads); ``submit(_:)`` is safe from any
/// thread or task.
public final class BatchEngine: @unchecked Sendable {
    public let model: LanguageModel
    public let configuration: EngineConfiguration
    let hooksFactory: BatchHooksFactory
    let metrics: ServeMetrics?

    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var cancelled: Set<Int> = []
    private var nextID = 0
    private var accepting = true
    private var running = false
    private var activeCount = 0
    private var finishedWaiters: [CheckedContinuation<Void, Never>] = []
    private var thread: Thread?

    private final class Pending {
        let id: Int
        let job: GenerationJob
        let continuation: AsyncStream<GenerationEvent>.Continuation
        let submitted: Date

        init(id: Int, job: GenerationJob, continuation: AsyncStream<GenerationEvent>.Continuation) {
            self.id = id
            self.job = job
            self.continuation = continuation
            submitted = Date()
        }
    }

    /// One row of the running batch.
    private struct Row {
        let request: Pending
        var sampler: Sampler
        var history: [Int32]
        var generated = 0
        /// The token the next decode step feeds.
        var last: Int32
        let limit: Int
        let promptTokens: Int
    }

    /// - Parameter metrics: where counters and histograms go (`nil`: nowhere).
    public convenience init(model: LanguageModel, configuration: EngineConfiguration = EngineConfiguration(),
                            metrics: ServeMetrics? = nil) {
        self.init(model: model, configuration: configuration, hooksFactory: MixedBatchHooks(), metrics: metrics)
    }

    init(model: LanguageModel, configuration: EngineConfiguration, hooksFactory: BatchHooksFactory, metrics: ServeMetrics?) {
        self.model = model
        self.configuration = configuration
        self.hooksFactory = hooksFactory
        self.metrics = metrics
    }

    /// Starts the decoding thread (idempotent).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        running = true
        let thread = Thread { [self] in run() }
        thread.name = "trimtab-engine"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    /// Queues `job` and returns its events; dropping or cancelling the stream's consumer
    /// cancels the job and frees its row.
    ///
    /// - Throws: ``EngineError/queueFull(limit:)`` when ``EngineConfiguration/maxQueue``
    ///   jobs wait already, ``EngineError/shuttingDown`` after ``shutdown()``,
    ///   ``EngineError/unsupportedAdapter(_:)``.
    public func submit(_ job: GenerationJob) throws -> AsyncStream<GenerationEvent> {
        precondition(!job.prompt.isEmpty, "a job needs at least one prompt token")
        if let adapter = job.adapter, let reason = hooksFactory.unsupportedReason(adapter) {
            throw EngineError.unsupportedAdapter(reason)
        }
        var continuation: AsyncStream<GenerationEvent>.Continuation!
        let stream = AsyncStream<GenerationEvent>(bufferingPolicy: .unbounded) { continuation = $0 }
        condition.lock()
        defer { condition.unlock() }
        guard accepting else { throw EngineError.shuttingDown }
        guard pending.count < configuration.maxQueue || (pending.isEmpty && activeCount < configuration.maxBatch) else {
            metrics?.rejected()
            throw EngineError.queueFull(limit: configuration.maxQueue)
        }
        let id = nextID
        nextID += 1
        pending.append(Pending(id: id, job: job, continuation: continuation))
        metrics?.queueDepth(pending.count)
        continuation.onTermination = { [weak self] termination in
            guard case .cancelled = termination, let self else { return }
            self.condition.lock()
            self.cancelled.insert(id)
            self.condition.signal()
            self.condition.unlock()
        }
        condition.signal()
        return stream
    }

    /// Jobs waiting for a row (cancelled ones not counted) and rows decoding now.
    public var load: (queued: Int, active: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (pending.count { !cancelled.contains($0.id) }, activeCount)
    }

    /// Stops accepting jobs, lets every queued and running job finish, and returns when
    /// the decoding thread has ended.
    public func shutdown() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            condition.lock()
            accepting = false
            if !running {
                condition.unlock()
                waiter.resume()
                return
            }
            finishedWaiters.append(waiter)
            condition.signal()
            condition.unlock()
        }
    }

    // MARK: - The decoding thread

    private func run() {
        let capacity = configuration.contextLength
        let cache = model.makeCache(batchSize: configuration.maxBatch, capacity: capacity)
        cache.removeAllRows()
        let single = model.makeCache(batchSize: 1, capacity: capacity)
        var rows: [Row] = []
        var hooks: ModelHooks?
        var hooksStale = false

        func remove(_ index: Int) {
            cache.removeRow(index)
            rows[index] = rows[rows.count - 1]
            rows.removeLast()
            hooksStale = true
        }

        func finish(_ row: Row, _ reason: FinishReason) {
            row.request.continuation.yield(.finished(reason, promptTokens: row.promptTokens, completionTokens: row.generated))
            row.request.continuation.finish()
            metrics?.finished(promptTokens: row.promptTokens, completionTokens: row.generated,
                              seconds: Date().timeIntervalSince(row.request.submitted))
        }

        /// Reports `token` of `row`; returns whether the row goes on.
        func accept(_ token: Int32, _ row: inout Row) -> Bool {
            if row.request.job.stopTokens.contains(token) {
                finish(row, .stop)
                return false
            }
            row.generated += 1
            row.history.append(token)
            row.last = token
            if case .terminated = row.request.continuation.yield(.token(token)) { return false }
            if row.generated >= row.limit {
                finish(row, .length)
                return false
            }
            return true
        }

        while true {
            condition.lock()
            while pending.isEmpty && rows.isEmpty && cancelled.isEmpty && accepting { condition.wait() }
            let cancelledNow = cancelled
            cancelled.removeAll()
            for _ in 0..<pending.count(where: { cancelledNow.contains($0.id) }) { metrics?.cancelled() }
            pending.removeAll { cancelledNow.contains($0.id) }
            var admitted: [Pending] = []
            while rows.count + admitted.count < configuration.maxBatch, !pending.isEmpty {
                admitted.append(pending.removeFirst())
            }
            let done = !accepting && pending.isEmpty && rows.isEmpty && admitted.isEmpty
            activeCount = rows.count + admitted.count
            metrics?.queueDepth(pending.count)
            metrics?.active(activeCount)
            if done {
                running = false
                let waiters = finishedWaiters
                finishedWaiters.removeAll()
                condition.unlock()
                waiters.forEach { $0.resume() }
                return
            }
            condition.unlock()

            for index in rows.indices.reversed() where cancelledNow.contains(rows[index].request.id) {
                metrics?.cancelled()
                remove(index)
            }

            // New jobs: prefill alone, take the first token, join the batch.
            for request in admitted {
                let job = request.job
                metrics?.waited(Date().timeIntervalSince(request.submitted))
                single.reset()
                let tape = Tape(recording: false)
                let started = Date()
                let (hidden, _) = model.hiddenStates(TokenBatch(rows: [job.prompt]), tape: tape, hooks: job.adapter,
                                                     cache: single)
                let c = model.hiddenSize
                let states = hidden.value.reshaped([hidden.value.count / c, c])
                let logits = model.logits(Variable(states.rows((states.shape[0] - 1)..<states.shape[0])), tape: tape).value
                metrics?.prefilled(tokens: single.length, seconds: Date().timeIntervalSince(started))
                var row = Row(request: request, sampler: Sampler(job.sampling), history: job.prompt, last: 0,
                              limit: min(job.maxTokens, capacity - single.length), promptTokens: job.prompt.count)
                guard row.limit > 0 else {
                    finish(row, .length)
                    continue
                }
                let token = row.sampler.sample(logits.floats, vocab: model.vocabularySize, history: row.history)
                if accept(token, &row) {
                    cache.appendRow(from: single)
                    rows.append(row)
                    hooksStale = true
                }
            }
            guard !rows.isEmpty else { continue }

            // One decode step over every row.
            if cache.remaining < 1 { cache.compact() }
            if hooksStale {
                hooks = hooksFactory.hooks(for: rows.map(\.request.job.adapter), model: model)
                hooksStale = false
            }
            let started = Date()
            let tape = Tape(recording: false)
            let batch = TokenBatch(batchSize: rows.count, length: 1, ids: rows.map(\.last))
            let (hidden, _) = model.hiddenStates(batch, tape: tape, hooks: hooks, cache: cache)
            let logits = model.logits(hidden, tape: tape).value
            metrics?.decoded(rows: rows.count, seconds: Date().timeIntervalSince(started))
            let vocab = model.vocabularySize
            var leaving: [Int] = []
            for index in rows.indices {
                let token = rows[index].sampler.sample(logits.floats + index * vocab, vocab: vocab,
                                                       history: rows[index].history)
                if !accept(token, &rows[index]) { leaving.append(index) }
            }
            for index in leaving.reversed() { remove(index) }
        }
    }
}
