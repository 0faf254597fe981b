import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabTensor

/// The `--model` option every command that runs a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A Hugging Face model directory or a .gguf file (default: SmolLM2-135M-Instruct from the asset cache).",
        valueName: "path"))
    var model: String?

    @Option(name: .long, help: "Storage of the frozen weight matrices: f32 or bf16.")
    var weights: String = "f32"

    /// The model path, defaulting to the cached SmolLM2.
    var path: String { model ?? AssetCache.path("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") }

    func matrixType() throws -> DType {
        guard let type = DType(rawValue: weights), type != .f16 else {
            throw ValidationError("--weights must be f32 or bf16, not '\(weights)'")
        }
        return type
    }

    /// Loads the model, with a hint when the default model has not been fetched yet.
    func load() throws -> LoadedModel {
        if model == nil && !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) is missing: run scripts/fetch-assets.sh, or pass --model PATH")
        }
        return try ModelLoader.load(path, matrixType: try matrixType())
    }
}
