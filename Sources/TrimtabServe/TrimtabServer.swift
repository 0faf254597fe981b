import Foundation
import Hummingbird
import ServiceLifecycle
import TrimtabModels
import TrimtabPEFT
import TrimtabText

/// The OpenAI-compatible HTTP server: one frozen model, many adapters, continuous batching.
///
/// Routes: `GET /health`, `GET /metrics` (Prometheus text), `GET /v1/models`,
/// `POST /v1/completions`, `POST /v1/chat/completions` (`stream: true` for server-sent
/// events ending in `data: [DONE]`), `POST /v1/adapters` (`{"name": …}` loads one from the
/// adapter directory) and `DELETE /v1/adapters/{name}`. Errors use OpenAI's shape.
///
/// ```swift
/// let server = TrimtabServer(state: state)
/// try await server.makeApplication(host: "127.0.0.1", port: 8080).runService()
/// ```
public struct TrimtabServer: Sendable {
    public let state: ServerState

    public init(state: ServerState) {
        self.state = state
    }

    /// The router with every route.
    public func makeRouter() -> Router<ServeRequestContext> {
        let router = Router(context: ServeRequestContext.self)
        router.add(middleware: StatusMetricsMiddleware(metrics: state.metrics))
        let state = self.state
        let service = CompletionService(state: state)

        router.get("/health") { _, _ -> Response in
            let load = state.engine.load
            let health: [String: Any] = ["status": "ok", "queued": load.queued, "active": load.active,
                                         "max_batch": state.engine.configuration.maxBatch]
            return Self.json(health)
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: state.metrics.prometheusText())))
        }
        router.get("/v1/models") { _, _ -> Response in
            let created = Int(state.started.timeIntervalSince1970)
            var data: [[String: Any]] = [["id": state.baseName, "object": "model", "created": created,
                                          "owned_by": "trimtab", "method": "base", "loaded": true]]
            for entry in state.registry.loadedEntries {
                data.append(Self.modelObject(entry))
            }
            for available in state.registry.unloadedDirectories() {
                data.append(["id": available.name, "object": "model", "created": created, "owned_by": "trimtab",
                             "method": available.method.map { $0 as Any } ?? NSNull(), "bytes": available.bytes, "loaded": false])
            }
            let list: [String: Any] = ["object": "list", "data": data]
            return Self.json(list)
        }
        router.post("/v1/adapters") { request, _ -> Response in
            let body = try await Self.collect(request, limit: state.limits.maxBodyBytes)
            guard case let .object(fields)? = try? JSONDecoder().decode(JSONValueBody.self, from: body).value else {
                throw OpenAIError.invalid("the request body must be a JSON object {\"name\": …}", code: "invalid_json")
            }
            guard let name = try Fields(fields).string("name") else {
                throw OpenAIError.invalid("'name' is required: an adapter directory's name", param: "name")
            }
            do {
                return Self.json(Self.modelObject(try state.registry.load(name)))
            } catch let error as RegistryError {
                throw ServerState.openAIError(error, param: "name")
            }
        }
        router.delete("/v1/adapters/:name") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            do {
                guard try state.registry.unload(name) else {
                    throw OpenAIError.notFound("no loaded adapter named '\(name)'", param: "name", code: "model_not_found")
                }
            } catch let error as RegistryError {
                throw ServerState.openAIError(error, param: "name")
            }
            let deleted: [String: Any] = ["id": name, "object": "model", "deleted": true]
            return Self.json(deleted)
        }
        for chat in [false, true] {
            router.post(chat ? "/v1/chat/completions" : "/v1/completions") { request, context -> Response in
                let body = try await Self.collect(request, limit: state.limits.maxBodyBytes)
                let parsed = try CompletionRequest.parse(body, chat: chat)
                let job = try service.job(for: parsed, chat: chat)
                let events = try service.run(job, stop: parsed.stop)
                let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
                let head = ResponseHead(id: id, model: parsed.model, created: Int(Date().timeIntervalSince1970), chat: chat)
                if parsed.stream {
                    // A streaming client that leaves is noticed when the next token is written.
                    return Self.streamed(events, head: head, includeUsage: parsed.includeUsage)
                }
                // A client that closes its connection cancels the wait: the job leaves the
                // queue or frees its row at the next step.
                return try await ConnectionWatcher.cancellingOnClose(context.channel) {
                    var text = ""
                    for await event in events {
                        switch event {
                        case let .text(piece): text += piece
                        case let .done(reason, prompt, completion):
                            return Self.json(head.whole(text: text, finish: reason, prompt: prompt, completion: completion))
                        }
                    }
                    throw OpenAIError(status: .serviceUnavailable, message: "the request was cancelled", type: "server_error")
                }
            }
        }
        return router
    }

    /// The application (HTTP server and engine services) listening on `host:port`.
    /// `runEngine: false` leaves the engine to the caller (tests start it themselves to
    /// hold jobs in the queue).
    public func makeApplication(host: String = "127.0.0.1", port: Int = 8080, runEngine: Bool = true) -> some ApplicationProtocol {
        Application(router: makeRouter(),
                    server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionWatcher()])),
                    configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "trimtab"),
                    services: runEngine ? [EngineService(engine: state.engine)] : [])
    }

    /// Serves on `host:port` until SIGTERM or SIGINT, then stops taking connections and
    /// lets the requests in flight finish (the HTTP server first, then the engine).
    public func run(host: String, port: Int) async throws {
        try await makeApplication(host: host, port: port).runService()
    }

    // MARK: - Helpers

    static func collect(_ request: Request, limit: Int) async throws -> Data {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge(limit)
        }
    }

    static func tooLarge(_ limit: Int) -> OpenAIError {
        OpenAIError(status: .contentTooLarge, message: "the request body exceeds \(limit) bytes",
                    type: "invalid_request_error", code: "request_too_large")
    }

    static func modelObject(_ entry: AdapterRegistry.Entry) -> [String: Any] {
        ["id": entry.name, "object": "model", "created": Int(entry.loaded.timeIntervalSince1970), "owned_by": "trimtab",
         "method": entry.method, "parameters": entry.parameterCount, "bytes": entry.parameterCount * 4,
         "virtual_tokens": entry.cachePositions, "loaded": true]
    }

    static func encode(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: encode(object))))
    }

    static func streamed(_ events: AsyncStream<TextEvent>, head: ResponseHead, includeUsage: Bool) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                 body: ResponseBody { writer in
            func event(_ object: [String: Any]) -> ByteBuffer { ByteBuffer(string: "data: \(encode(object))\n\n") }
            if head.chat { try await writer.write(event(head.chunk(role: true, text: nil, finish: nil))) }
            for await item in events {
                switch item {
                case let .text(piece):
                    try await writer.write(event(head.chunk(role: false, text: piece, finish: nil)))
                case let .done(reason, prompt, completion):
                    try await writer.write(event(head.chunk(role: false, text: head.chat ? nil : "", finish: reason)))
                    if includeUsage { try await writer.write(event(head.usageChunk(prompt: prompt, completion: completion))) }
                }
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        })
    }
}

/// The parts every response and chunk of one request share.
struct ResponseHead: Sendable {
    let id: String
    let model: String
    let created: Int
    let chat: Bool

    static func usage(prompt: Int, completion: Int) -> [String: Any] {
        ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
    }

    func whole(text: String, finish: FinishReason, prompt: Int, completion: Int) -> [String: Any] {
        let choice: [String: Any] = chat
            ? ["index": 0, "message": ["role": "assistant", "content": text], "logprobs": NSNull(),
               "finish_reason": finish.rawValue]
            : ["index": 0, "text": text, "logprobs": NSNull(), "finish_reason": finish.rawValue]
        return ["id": id, "object": chat ? "chat.completion" : "text_completion", "created": created, "model": model,
                "choices": [choice], "usage": Self.usage(prompt: prompt, completion: completion)]
    }

    func chunk(role: Bool, text: String?, finish: FinishReason?) -> [String: Any] {
        var choice: [String: Any] = ["index": 0, "logprobs": NSNull(), "finish_reason": finish?.rawValue ?? NSNull()]
        if chat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant"; delta["content"] = "" }
            if let text { delta["content"] = text }
            choice["delta"] = delta
        } else {
            choice["text"] = text ?? ""
        }
        return ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                "model": model, "choices": [choice]]
    }

    func usageChunk(prompt: Int, completion: Int) -> [String: Any] {
        ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created, "model": model,
         "choices": [] as [Any], "usage": Self.usage(prompt: prompt, completion: completion)]
    }
}

/// A whole JSON body as a ``JSONValue``.
struct JSONValueBody: Decodable {
    let value: JSONValue
    init(from decoder: Decoder) throws { value = try JSONValue(from: decoder) }
}

/// Counts responses by route and status for `/metrics`.
struct StatusMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServeMetrics

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let known = ["/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/adapters"]
        let route = path.hasPrefix("/v1/adapters/") ? "/v1/adapters/{name}" : known.contains(path) ? path : "other"
        do {
            let response = try await next(request, context)
            metrics.http(route: route, status: response.status.code)
            return response
        } catch let error as HTTPResponseError {
            metrics.http(route: route, status: error.status.code)
            throw error
        }
    }
}
