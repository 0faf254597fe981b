import ArgumentParser
import Foundation
import TrimtabModels
import TrimtabPEFT

/// `trimtab merge`: folds a LoRA, DoRA or (IA)³ adapter into the base weights and writes a
/// Hugging Face model directory.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA, DoRA or (IA)³ adapter into the base model and write a Hugging Face model directory.",
        discussion: """
        The output holds model.safetensors (f32), config.json, generation_config.json and the \
        tokenizer (copied from a model directory, or written from a GGUF file's tokenizer), and \
        loads with transformers' AutoModelForCausalLM / AutoTokenizer.from_pretrained and with \
        trimtab --model DIR. Prompt-learning adapters cannot be merged (they add tokens, not weights).

        Example:
          trimtab merge --adapter runs/lora/adapter --output merged/
        """
    )

    @Option(help: ArgumentHelp("A Hugging Face model directory or a .gguf file (default: SmolLM2-135M-Instruct from the asset cache).",
                               valueName: "path"))
    var model: String?
    @Option(help: ArgumentHelp("The adapter directory (PEFT format: LORA or IA3).", valueName: "dir"))
    var adapter: String
    @Option(help: ArgumentHelp("The model directory to write (replaced if it exists).", valueName: "dir"))
    var output: String

    func run() throws {
        let path = model ?? AssetCache.path("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        if model == nil && !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) is missing: run scripts/fetch-assets.sh, or pass --model PATH")
        }
        // Full precision: the merged weights are written in f32.
        let loaded = try ModelLoader.load(path)
        let (loadedAdapter, _) = try AdapterFiles.load(from: URL(fileURLWithPath: adapter), model: loaded.model)
        guard let mergeable = loadedAdapter as? MergeableAdapter else {
            throw ValidationError("\(adapter) is a \(loadedAdapter.peftType) adapter, which changes the input rather than "
                                  + "the weights and cannot be merged; use it with --adapter instead")
        }
        let merged = mergeable.mergedWeights()
        try ModelDirectoryWriter.write(loaded, replacing: merged, to: URL(fileURLWithPath: output))
        print("merged \(loadedAdapter.peftType) (\(merged.count) tensors changed) into \(loaded.source) → \(output)")
    }
}
