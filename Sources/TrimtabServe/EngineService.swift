import ServiceLifecycle

/// Runs the ``BatchEngine``'s thread as a swift-service-lifecycle service: started with the
/// server; on graceful shutdown (SIGTERM) it stops taking jobs, finishes the queued and
/// running ones, and ends. The HTTP server is shut down before it (it is the last service
/// of the group), so requests in flight still get their answers.
struct EngineService: Service {
    let engine: BatchEngine

    func run() async throws {
        engine.start()
        try? await gracefulShutdown()
        await engine.shutdown()
    }
}
