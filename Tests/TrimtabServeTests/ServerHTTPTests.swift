import Foundation
import Hummingbird
import HummingbirdTesting
import TrimtabModels
import TrimtabPEFT
import TrimtabText
import XCTest
@testable import TrimtabServe

/// The server over real HTTP on loopback (`.live`).
final class ServerHTTPTests: XCTestCase {
    struct Setup {
        let model: LlamaModel
        let tokenizer: Tokenizer
        let directory: URL
        let state: ServerState
        var app: some ApplicationProtocol { TrimtabServer(state: state).makeApplication(host: "127.0.0.1", port: 0) }
        /// Without the engine service: jobs wait in the queue until the test starts the engine.
        var appHoldingJobs: some ApplicationProtocol {
            TrimtabServer(state: state).makeApplication(host: "127.0.0.1", port: 0, runEngine: false)
        }
    }

    func setup(_ name: String = #function, engine: EngineConfiguration = EngineConfiguration(maxBatch: 8, maxQueue: 64, contextLength: 96),
               limits: ServeLimits = ServeLimits(maxBodyBytes: 4096, maxPromptTokens: 48, maxGenerationTokens: 40)) throws -> Setup {
        let tokenizer = try ServeFixture.tokenizer()
        let model = try ServeFixture.model()
        let root = try ServeFixture.temporaryDirectory(name)
        let directory = root.appendingPathComponent("adapters")
        try ServeFixture.writeAdapters(to: directory, model: model, tokenizer: tokenizer)
        let state = ServeFixture.state(model: model, tokenizer: tokenizer, directory: directory, engine: engine, limits: limits)
        return Setup(model: model, tokenizer: tokenizer, directory: directory, state: state)
    }

    func testConcurrentRequestsOverEightAdaptersMatchAlone() async throws {
        let s = try setup()
        let names = ServeFixture.eight
        let prompts = ["the cat sat", "a dog ran far away", "hello there", "good film", "what is it", "x y z",
                       "review: bad movie", "on the mat", "once upon a time", "stop"]
        // 32 requests: 4 per adapter, every one with its own prompt and length.
        var expected: [(name: String, prompt: String, maxTokens: Int, text: String, tokens: Int)] = []
        let loader = AdapterRegistry(directory: s.directory, model: s.model)
        for i in 0..<32 {
            let name = names[i % names.count]
            let prompt = prompts[(i * 7) % prompts.count]
            let maxTokens = 4 + (i * 3) % 13
            let ids = s.tokenizer.encode(prompt, addSpecialTokens: true)
            let tokens = ServeFixture.alone(s.model, prompt: ids, adapter: try loader.entry(name).adapter,
                                            maxTokens: maxTokens, stops: [s.tokenizer.eosId!])
            expected.append((name, prompt, maxTokens, ServeFixture.text(tokens, tokenizer: s.tokenizer), tokens.count))
        }
        XCTAssertGreaterThan(Set(expected.prefix(8).map(\.text)).count, 4, "adapters should change the text")
        let cases = expected
        try await s.app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, e) in cases.enumerated() {
                    group.addTask {
                        let stream = i % 3 == 0
                        let response = try await postAlone(port: port, "/v1/completions", [
                            "model": e.name, "prompt": e.prompt, "max_tokens": e.maxTokens, "temperature": 0,
                            "stream": stream,
                        ])
                        XCTAssertEqual(response.status, .ok)
                        if stream {
                            let events = response.events
                            XCTAssertEqual(events.last, "[DONE]")
                            var text = ""
                            for event in events.dropLast() {
                                let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                                let choice = try XCTUnwrap((chunk["choices"] as? [[String: Any]])?.first)
                                text += choice["text"] as? String ?? ""
                            }
                            XCTAssertEqual(text, e.text, "request \(i) on \(e.name), streamed")
                        } else {
                            let json = try response.json
                            let choice = try XCTUnwrap((json["choices"] as? [[String: Any]])?.first)
                            XCTAssertEqual(choice["text"] as? String, e.text, "request \(i) on \(e.name)")
                            let usage = try XCTUnwrap(json["usage"] as? [String: Any])
                            XCTAssertEqual(usage["completion_tokens"] as? Int, e.tokens)
                            XCTAssertEqual(json["model"] as? String, e.name)
                            XCTAssertEqual(json["object"] as? String, "text_completion")
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Metrics saw them all.
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(decoding: metrics.body.readableBytesView, as: UTF8.self)
            XCTAssertTrue(text.contains("trimtab_requests_total 32"), text)
            XCTAssertTrue(text.contains("trimtab_batch_occupancy"), text)
            XCTAssertTrue(text.contains("trimtab_request_duration_seconds_bucket"), text)
            XCTAssertTrue(text.contains("trimtab_queue_depth"), text)
            // Decode steps ran several rows at once (the requests were really batched).
            func value(_ prefix: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(prefix) }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            let steps = try XCTUnwrap(value("trimtab_batch_occupancy_count"), text)
            let single = try XCTUnwrap(value("trimtab_batch_occupancy_bucket{le=\"1.0\"}"), text)
            XCTAssertLessThan(single, steps / 2, "most decode steps should carry more than one row")
        }
    }

    func testChatStreamingAndWholeGiveTheSameText() async throws {
        let s = try setup()
        let messages: [[String: Any]] = [["role": "system", "content": "be brief"], ["role": "user", "content": "the cat?"]]
        let rendered = ChatTemplate.chatML.render([.system("be brief"), .user("the cat?")], addGenerationPrompt: true)
        let ids = s.tokenizer.encode(rendered, addSpecialTokens: true)
        let adapter = try AdapterRegistry(directory: s.directory, model: s.model).entry("prefix-3").adapter
        let stops: Set<Int32> = [s.tokenizer.eosId!, s.tokenizer.tokenToId("<|im_end|>")!]
        let tokens = ServeFixture.alone(s.model, prompt: ids, adapter: adapter, maxTokens: 20, stops: stops)
        let expected = ServeFixture.text(tokens, tokenizer: s.tokenizer)
        try await s.app.test(.live) { client in
            let body: [String: Any] = ["model": "prefix-3", "messages": messages, "max_tokens": 20, "temperature": 0]
            let whole = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(whole.status, .ok)
            let json = try whole.json
            XCTAssertEqual(json["object"] as? String, "chat.completion")
            let choice = try XCTUnwrap((json["choices"] as? [[String: Any]])?.first)
            let message = try XCTUnwrap(choice["message"] as? [String: Any])
            XCTAssertEqual(message["content"] as? String, expected)
            XCTAssertEqual(message["role"] as? String, "assistant")
            let usage = try XCTUnwrap(json["usage"] as? [String: Any])
            XCTAssertEqual(usage["prompt_tokens"] as? Int, ids.count)
            XCTAssertEqual(usage["completion_tokens"] as? Int, tokens.count)

            var streamBody = body
            streamBody["stream"] = true
            streamBody["stream_options"] = ["include_usage": true]
            let streamed = try await client.post("/v1/chat/completions", streamBody)
            XCTAssertEqual(streamed.status, .ok)
            XCTAssertEqual(streamed.headers[.contentType], "text/event-stream")
            let events = streamed.events
            XCTAssertEqual(events.last, "[DONE]")
            var text = "", finish: String?, sawRole = false, streamedUsage: [String: Any]?
            for event in events.dropLast() {
                let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                XCTAssertEqual(chunk["object"] as? String, "chat.completion.chunk")
                if let u = chunk["usage"] as? [String: Any] { streamedUsage = u }
                guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
                let delta = try XCTUnwrap(choice["delta"] as? [String: Any])
                if delta["role"] as? String == "assistant" { sawRole = true }
                text += delta["content"] as? String ?? ""
                if let f = choice["finish_reason"] as? String { finish = f }
            }
            XCTAssertTrue(sawRole)
            XCTAssertEqual(text, expected)
            XCTAssertEqual(finish, choice["finish_reason"] as? String)
            XCTAssertEqual(streamedUsage?["completion_tokens"] as? Int, tokens.count)
        }
    }

    func testStopStringsSeedAndSampling() async throws {
        let s = try setup()
        try await s.app.test(.live) { client in
            let base: [String: Any] = ["model": "tiny", "prompt": "the cat sat on", "max_tokens": 30, "temperature": 0]
            let full = try await client.post("/v1/completions", base)
            let fullText = try XCTUnwrap(((try full.json["choices"] as? [[String: Any]])?.first)?["text"] as? String)
            XCTAssertGreaterThan(fullText.count, 4, fullText)
            // A stop string taken from the middle of the text cuts it there.
            let start = fullText.index(fullText.startIndex, offsetBy: fullText.count / 2)
            let stop = String(fullText[start...].prefix(2))
            var withStop = base
            withStop["stop"] = [stop, "never-there"]
            for stream in [false, true] {
                withStop["stream"] = stream
                let r = try await client.post("/v1/completions", withStop)
                var text = "", finish: String?
                if stream {
                    for event in r.events.dropLast() {
                        let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                        let choice = try XCTUnwrap((chunk["choices"] as? [[String: Any]])?.first)
                        text += choice["text"] as? String ?? ""
                        if let f = choice["finish_reason"] as? String { finish = f }
                    }
                } else {
                    let choice = try XCTUnwrap((try r.json["choices"] as? [[String: Any]])?.first)
                    text = try XCTUnwrap(choice["text"] as? String)
                    finish = choice["finish_reason"] as? String
                }
                XCTAssertEqual(text, String(fullText[..<fullText.range(of: stop)!.lowerBound]), "stream: \(stream)")
                XCTAssertEqual(finish, "stop")
            }
            // Sampling with a seed repeats itself.
            var sampled = base
            sampled["temperature"] = 1.5
            sampled["top_p"] = 0.9
            sampled["seed"] = 42
            let a = try await client.post("/v1/completions", sampled).json["choices"] as? [[String: Any]]
            let b = try await client.post("/v1/completions", sampled).json["choices"] as? [[String: Any]]
            XCTAssertEqual(a?.first?["text"] as? String, b?.first?["text"] as? String)
        }
    }

    func testErrorsInOpenAIShape() async throws {
        let s = try setup()
        // An adapter outside the adapter directory that a traversal would reach.
        let outside = s.directory.deletingLastPathComponent().appendingPathComponent("secret")
        try AdapterFiles.save(try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 2), model: s.model,
                                              tokenizer: s.tokenizer), to: outside, extras: nil)
        try await s.app.test(.live) { client in
            func check(_ r: TestResponse, _ status: HTTPResponse.Status, param: String?, code: String? = nil,
                       contains: String, line: UInt = #line) throws {
                XCTAssertEqual(r.status, status, line: line)
                let error = try r.error
                XCTAssertEqual(error["param"] as? String, param, line: line)
                if let code { XCTAssertEqual(error["code"] as? String, code, line: line) }
                XCTAssertNotNil(error["type"] as? String, line: line)
                let message = try XCTUnwrap(error["message"] as? String)
                XCTAssertTrue(message.contains(contains), "'\(message)' lacks '\(contains)'", line: line)
            }
            let ok: [String: Any] = ["model": "tiny", "prompt": "the cat", "max_tokens": 2]
            try check(try await client.post("/v1/completions", raw: "{\"model\": "), .badRequest, param: nil,
                      code: "invalid_json", contains: "not valid JSON")
            try check(try await client.post("/v1/completions", raw: "[1, 2]"), .badRequest, param: nil,
                      code: "invalid_json", contains: "JSON object")
            try check(try await client.post("/v1/completions", ["prompt": "x"]), .badRequest, param: "model",
                      contains: "'model' is required")
            for (field, value, message) in [("temperature", "hot" as Any, "must be a number"), ("temperature", 3 as Any, "between 0 and 2"),
                                            ("max_tokens", 1.5 as Any, "must be an integer"), ("max_tokens", 0 as Any, "at least 1"),
                                            ("top_p", 0 as Any, "(0, 1]"), ("stop", 5 as Any, "'stop'"),
                                            ("stream", "yes" as Any, "true or false"), ("n", 2 as Any, "'n' must be 1"),
                                            ("prompt", [true] as Any, "'prompt'"), ("seed", "x" as Any, "integer")] {
                var body = ok
                body[field] = value
                try check(try await client.post("/v1/completions", body), .badRequest, param: field, contains: message)
            }
            try check(try await client.post("/v1/chat/completions", ["model": "tiny", "messages": [["role": "robot", "content": "x"]]]),
                      .badRequest, param: "messages[0].role", contains: "role")
            try check(try await client.post("/v1/chat/completions", ["model": "tiny"]), .badRequest, param: "messages",
                      contains: "non-empty list")
            // Limits.
            try check(try await client.post("/v1/completions", raw: "{\"pad\": \"" + String(repeating: "x", count: 5000) + "\"}"),
                      .contentTooLarge, param: nil, code: "request_too_large", contains: "4096 bytes")
            var long = ok
            long["prompt"] = String(repeating: "the cat sat on the mat ", count: 20)
            try check(try await client.post("/v1/completions", long), .badRequest, param: "prompt",
                      code: "context_length_exceeded", contains: "at most 48")
            var many = ok
            many["max_tokens"] = 41
            try check(try await client.post("/v1/completions", many), .badRequest, param: "max_tokens", contains: "at most 40")
            var tokenIDs = ok
            tokenIDs["prompt"] = [5, 400]
            try check(try await client.post("/v1/completions", tokenIDs), .badRequest, param: "prompt", contains: "vocabulary")
            // Unknown adapters and names that try to leave the directory.
            var unknown = ok
            unknown["model"] = "no-such-adapter"
            try check(try await client.post("/v1/completions", unknown), .notFound, param: "model", code: "model_not_found",
                      contains: "no-such-adapter")
            for bad in ["../secret", "/etc", "..", "a/../../secret", ".hidden", "secret\u{0}"] {
                var traversal = ok
                traversal["model"] = bad
                try check(try await client.post("/v1/completions", traversal), .badRequest, param: "model",
                          code: "invalid_adapter_name", contains: "adapter name")
                try check(try await client.post("/v1/adapters", ["name": bad]), .badRequest, param: "name",
                          code: "invalid_adapter_name", contains: "adapter name")
            }
            let escaped = try await client.execute(uri: "/v1/adapters/..%2Fsecret", method: .delete)
            XCTAssertTrue([.badRequest, .notFound].contains(escaped.status), "\(escaped.status)")
            XCTAssertEqual(try escaped.error["param"] as? String, "name")
            // A valid request after all this still works.
            let fine = try await client.post("/v1/completions", ok)
            XCTAssertEqual(fine.status, .ok)
        }
    }

    func testQueueFullIs429() async throws {
        let s = try setup(engine: EngineConfiguration(maxBatch: 1, maxQueue: 2, contextLength: 64))
        try await s.appHoldingJobs.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let body: [String: Any] = ["model": "tiny", "prompt": "the cat", "max_tokens": 3, "temperature": 0]
            let waiting = (0..<2).map { _ in Task { try await postAlone(port: port, "/v1/completions", body) } }
            let state = s.state
            try await waitUntil("two jobs are queued") { state.engine.load.queued == 2 }
            let refused = try await client.post("/v1/completions", body)
            XCTAssertEqual(refused.status, .tooManyRequests)
            XCTAssertEqual(try refused.error["code"] as? String, "queue_full")
            XCTAssertEqual(try refused.error["type"] as? String, "rate_limit_error")
            s.state.engine.start()
            for task in waiting {
                let response = try await task.value
                XCTAssertEqual(response.status, .ok)
            }
        }
        await s.state.engine.shutdown()
    }

    /// `ignore_eos` (vLLM's extension) drops the end-of-sequence token from the stops.
    func testIgnoreEOSKeepsGenerating() throws {
        let s = try setup()
        let eos = try XCTUnwrap(s.tokenizer.eosId)
        let service = CompletionService(state: s.state)
        for (ignore, expected) in [(false, Set([eos])), (true, Set<Int32>())] {
            let body = #"{"model": "tiny", "prompt": "the cat", "max_tokens": 5, "ignore_eos": \#(ignore)}"#
            let job = try service.job(for: try CompletionRequest.parse(Data(body.utf8), chat: false), chat: false)
            XCTAssertEqual(job.stopTokens, expected, "ignore_eos \(ignore)")
        }
        let bad = #"{"model": "tiny", "prompt": "the cat", "ignore_eos": "yes"}"#
        XCTAssertThrowsError(try CompletionRequest.parse(Data(bad.utf8), chat: false))
    }

    /// A client that closes its connection while its non-streaming request waits for a row
    /// takes the job out of the queue: the engine never runs it.
    func testDisconnectedClientLeavesTheQueue() async throws {
        let s = try setup(engine: EngineConfiguration(maxBatch: 1, maxQueue: 4, contextLength: 64))
        try await s.appHoldingJobs.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let body: [String: Any] = ["model": "tiny", "prompt": "the cat", "max_tokens": 3, "temperature": 0]
            let data = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))
            let state = s.state
            try await TestClient.withClient(host: "127.0.0.1", port: port) { leaving in
                try await leaving.executeAndDontWaitForResponse(
                    .init("/v1/completions", method: .post, headers: [.contentType: "application/json"], body: data))
                try await waitUntil("the job is queued") { state.engine.load.queued == 1 }
                try await leaving.close(mode: .all)
            }
            try await waitUntil("the job leaves the queue") { state.engine.load.queued == 0 }
            s.state.engine.start()
            let answer = try await client.post("/v1/completions", body)
            XCTAssertEqual(answer.status, .ok)
            let metrics = String(decoding: try await client.execute(uri: "/metrics", method: .get).body.readableBytesView, as: UTF8.self)
            XCTAssertTrue(metrics.contains("trimtab_requests_cancelled_total 1"), metrics)
        }
        await s.state.engine.shutdown()
    }

    func testModelsAdaptersAndHealth() async throws {
        let s = try setup()
        try await s.app.test(.live) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
            XCTAssertEqual(try health.json["status"] as? String, "ok")

            func models() async throws -> [String: [String: Any]] {
                let r = try await client.execute(uri: "/v1/models", method: .get)
                XCTAssertEqual(r.status, .ok)
                let data = try XCTUnwrap(try r.json["data"] as? [[String: Any]])
                return Dictionary(uniqueKeysWithValues: data.map { ($0["id"] as! String, $0) })
            }
            var listed = try await models()
            XCTAssertEqual(Set(listed.keys), Set(["tiny"] + ServeFixture.adapterNames))
            XCTAssertEqual(listed["lora-4"]?["method"] as? String, "LORA")
            XCTAssertEqual(listed["tiny"]?["method"] as? String, "base")
            XCTAssertEqual(listed["prefix-3"]?["method"] as? String, "PREFIX_TUNING")
            XCTAssertEqual(listed["soft-5"]?["loaded"] as? Bool, false)

            // Load one explicitly: the listing reports its size.
            let loaded = try await client.post("/v1/adapters", ["name": "soft-5"])
            XCTAssertEqual(loaded.status, .ok)
            XCTAssertEqual(try loaded.json["parameters"] as? Int, 5 * 32)
            XCTAssertEqual(try loaded.json["virtual_tokens"] as? Int, 5)
            listed = try await models()
            XCTAssertEqual(listed["soft-5"]?["loaded"] as? Bool, true)
            XCTAssertEqual(listed["soft-5"]?["method"] as? String, "PROMPT_TUNING")

            // An adapter copied into the directory while running is found on first use.
            try AdapterFiles.save(try makeAdapter(.promptTuning, options: PromptMethodOptions(virtualTokens: 3, seed: 99),
                                                  model: s.model, tokenizer: s.tokenizer),
                                  to: s.directory.appendingPathComponent("late"), extras: nil)
            let late = try await client.post("/v1/completions", ["model": "late", "prompt": "the", "max_tokens": 2])
            XCTAssertEqual(late.status, .ok)

            // Unload, unload again, and a load of something absent.
            let deleted = try await client.execute(uri: "/v1/adapters/late", method: .delete)
            XCTAssertEqual(deleted.status, .ok)
            XCTAssertEqual(try deleted.json["deleted"] as? Bool, true)
            let again = try await client.execute(uri: "/v1/adapters/late", method: .delete)
            XCTAssertEqual(again.status, .notFound)
            let absent = try await client.post("/v1/adapters", ["name": "absent"])
            XCTAssertEqual(absent.status, .notFound)
            XCTAssertEqual(try absent.error["code"] as? String, "model_not_found")
            // A directory that is not a valid adapter: 422 naming the file.
            let broken = s.directory.appendingPathComponent("broken")
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            try Data("{\"peft_type\": \"PROMPT_TUNING\"}".utf8).write(to: broken.appendingPathComponent("adapter_config.json"))
            let failed = try await client.post("/v1/adapters", ["name": "broken"])
            XCTAssertEqual(failed.status, .unprocessableContent)
            XCTAssertTrue((try failed.error["message"] as? String ?? "").contains("adapter_model.safetensors"))
        }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out after 10 s waiting until \(what)" }
}

/// Polls `condition` every 5 ms for up to 10 s, and fails after that.
func waitUntil(_ what: String, _ condition: @Sendable () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(10)
    while !condition() {
        guard Date() < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
}
