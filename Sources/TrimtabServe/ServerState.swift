import Foundation
import TrimtabModels
import TrimtabText

/// What every request handler shares: the model, its tokenizer, the adapters, the engine.
public final class ServerState: @unchecked Sendable {
    /// The name requests use for the model without an adapter (`model` field).
    public let baseName: String
    public let tokenizer: Tokenizer
    public let registry: AdapterRegistry
    public let engine: BatchEngine
    public let metrics: ServeMetrics
    public let limits: ServeLimits
    let started = Date()

    public init(baseName: String, tokenizer: Tokenizer, registry: AdapterRegistry, engine: BatchEngine,
                metrics: ServeMetrics, limits: ServeLimits) {
        self.baseName = baseName
        self.tokenizer = tokenizer
        self.registry = registry
        self.engine = engine
        self.metrics = metrics
        self.limits = limits
    }

    /// The adapter a request's `model` names (`nil`: the base model), as an OpenAI error
    /// when it is not there: 400 for an invalid name, 404 for an unknown one.
    func resolve(_ model: String) throws -> AdapterRegistry.Entry? {
        if model == baseName { return nil }
        do {
            return try registry.entry(model)
        } catch let error as RegistryError {
            throw Self.openAIError(error, param: "model")
        }
    }

    static func openAIError(_ error: RegistryError, param: String) -> OpenAIError {
        switch error {
        case .invalidName:
            return OpenAIError.invalid(error.description, param: param, code: "invalid_adapter_name")
        case .notFound:
            return OpenAIError.notFound("\(error.description) (neither the base model nor an adapter directory)",
                                        param: param, code: "model_not_found")
        case .loadFailed:
            return OpenAIError(status: .unprocessableContent, message: error.description, type: "invalid_request_error",
                               param: param, code: "adapter_load_failed")
        }
    }
}
