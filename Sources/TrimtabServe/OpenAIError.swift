import Foundation
import Hummingbird

/// An error response in OpenAI's shape:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}`.
public struct OpenAIError: HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let message: String
    /// `invalid_request_error`, `not_found_error`, `rate_limit_error`, `server_error`, …
    public let type: String
    /// The request field at fault, if any.
    public let param: String?
    public let code: String?

    public init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// 400: a malformed body or a bad field.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func notFound(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .notFound, message: message, type: "not_found_error", param: param, code: code)
    }

    /// The JSON body.
    public var json: Data {
        var error: [String: Any] = ["message": message, "type": type]
        error["param"] = param ?? NSNull()
        error["code"] = code ?? NSNull()
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }
}
