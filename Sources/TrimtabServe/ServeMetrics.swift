import CoreMetrics
import Foundation

import Prometheus

/// The server's counters, gauges and histograms, recorded through swift-metrics into a
/// Prometheus registry of their own (no process-wide bootstrap, so several servers, e.g.
/// in tests, never share counts). ``prometheusText()`` is the `/metrics` page.
public final class ServeMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let requests: CoreMetrics.Counter
    private let rejectedRequests: CoreMetrics.Counter
    private let cancelledRequests: CoreMetrics.Counter
    private let promptTokens: CoreMetrics.Counter
    private let completionTokens: CoreMetrics.Counter
    private let queued: CoreMetrics.Gauge
    private let occupancy: CoreMetrics.Recorder
    private let activeRows: CoreMetrics.Gauge
    private let latency: CoreMetrics.Timer
    private let queueWait: CoreMetrics.Timer
    private let prefill: CoreMetrics.Timer
    private let decodeStep: CoreMetrics.Timer
    private let lock = NSLock()
    private var statusCounters: [String: CoreMetrics.Counter] = [:]
    private let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
            .map { .milliseconds(Int64($0 * 1000)) }
        factory.defaultDurationHistogramBuckets = seconds
        factory.valueHistogramBuckets["trimtab_batch_occupancy"] = [1, 2, 4, 8, 16, 32, 64, 128]
        self.factory = factory
        requests = CoreMetrics.Counter(label: "trimtab_requests_total", factory: factory)
        rejectedRequests = CoreMetrics.Counter(label: "trimtab_requests_rejected_total", factory: factory)
        cancelledRequests = CoreMetrics.Counter(label: "trimtab_requests_cancelled_total", factory: factory)
        promptTokens = CoreMetrics.Counter(label: "trimtab_prompt_tokens_total", factory: factory)
        completionTokens = CoreMetrics.Counter(label: "trimtab_generated_tokens_total", factory: factory)
        queued = CoreMetrics.Gauge(label: "trimtab_queue_depth", factory: factory)
        activeRows = CoreMetrics.Gauge(label: "trimtab_batch_rows", factory: factory)
        occupancy = CoreMetrics.Recorder(label: "trimtab_batch_occupancy", dimensions: [], aggregate: true,
                             handler: factory.makeRecorder(label: "trimtab_batch_occupancy", dimensions: [], aggregate: true),
                             factory: factory)
        latency = CoreMetrics.Timer(label: "trimtab_request_duration_seconds", factory: factory)
        queueWait = CoreMetrics.Timer(label: "trimtab_queue_wait_seconds", factory: factory)
        prefill = CoreMetrics.Timer(label: "trimtab_prefill_duration_seconds", factory: factory)
        decodeStep = CoreMetrics.Timer(label: "trimtab_decode_step_duration_seconds", factory: factory)
    }

    /// The registry in Prometheus' text exposition format.
    public func prometheusText() -> String { registry.emitToString() }

    /// Counts an HTTP response by route and status.
    func http(route: String, status: Int) {
        let key = "\(route) \(status)"
        lock.lock()
        let counter = statusCounters[key] ?? CoreMetrics.Counter(label: "trimtab_http_responses_total",
                                                     dimensions: [("route", route), ("status", "\(status)")],
                                                     factory: factory)
        statusCounters[key] = counter
        lock.unlock()
        counter.increment()
    }

    func rejected() { rejectedRequests.increment() }
    func cancelled() { cancelledRequests.increment() }
    func queueDepth(_ n: Int) { queued.record(n) }
    func active(_ n: Int) { activeRows.record(n) }
    func waited(_ seconds: Double) { queueWait.recordSeconds(seconds) }

    func prefilled(tokens: Int, seconds: Double) { prefill.recordSeconds(seconds) }

    func decoded(rows: Int, seconds: Double) {
        occupancy.record(rows)
        decodeStep.recordSeconds(seconds)
    }

    func finished(promptTokens prompt: Int, completionTokens completion: Int, seconds: Double) {
        requests.increment()
        promptTokens.increment(by: prompt)
        completionTokens.increment(by: completion)
        latency.recordSeconds(seconds)
    }
}
