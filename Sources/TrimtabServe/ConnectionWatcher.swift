import Hummingbird
import NIOCore
import Synchronization

/// Notices a client closing its side of the connection while its request is still being
/// answered.
///
/// The server allows half-closed connections, and a request handler that is waiting for
/// the engine reads nothing more from the connection, so the close reaches the pipeline as
/// an `inputClosed` event (or the channel going inactive) and nowhere else. This handler sits
/// in every connection's pipeline (``TrimtabServer/makeApplication(host:port:runEngine:)``)
/// and runs the callbacks a request registered, without taking the connection's body
/// iterator away from the server, so keep-alive works as before.
final class ConnectionWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny  // reads pass through (the protocol's default forwards them)

    private struct State {
        var closed = false
        var nextToken = 0
        var callbacks: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { closed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed()
        context.fireChannelInactive()
    }

    private func closed() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            state.closed = true
            defer { state.callbacks.removeAll() }
            return Array(state.callbacks.values)
        }
        callbacks.forEach { $0() }
    }

    /// Runs `callback` once when the client closes (at once if it already has); returns a
    /// token for ``remove(_:)``.
    func onClose(_ callback: @escaping @Sendable () -> Void) -> Int {
        let (token, alreadyClosed) = state.withLock { state -> (Int, Bool) in
            state.nextToken += 1
            if !state.closed { state.callbacks[state.nextToken] = callback }
            return (state.nextToken, state.closed)
        }
        if alreadyClosed { callback() }
        return token
    }

    func remove(_ token: Int) {
        _ = state.withLock { $0.callbacks.removeValue(forKey: token) }
    }

    /// Runs `operation` in a child task that is cancelled when the client of `channel`
    /// closes its side of the connection (or when the caller is cancelled). Without a
    /// watcher in the pipeline (a server built without it) it just runs `operation`.
    static func cancellingOnClose<Value: Sendable>(
        _ channel: any Channel, _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        guard let watcher = try? await channel.pipeline.handler(type: ConnectionWatcher.self).get() else {
            return try await operation()
        }
        let task = Task { try await operation() }
        let token = watcher.onClose { task.cancel() }
        defer { watcher.remove(token) }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

/// The request context of ``TrimtabServer``'s routes: Hummingbird's basic context plus the
/// connection, so a handler can notice its client leaving.
public struct ServeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
