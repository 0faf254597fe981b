import ArgumentParser
import Foundation
import TrimtabIO

/// `trimtab inspect PATH [--json]`: what a checkpoint holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's architecture, parameter count, element types and tensors.",
        discussion: "PATH is a .gguf file, a .safetensors file, or a Hugging Face model directory "
            + "(model.safetensors, sharded with model.safetensors.index.json, and config.json)."
    )

    @Argument(help: "A .gguf file, a .safetensors file, or a model directory.")
    var path: String

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let summary = try CheckpointSummary.load(URL(fileURLWithPath: path))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(Self.table(summary))
        }
    }

    /// The summary as aligned text.
    static func table(_ s: CheckpointSummary) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines.append(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value) }
        row("path", s.path)
        row("format", "\(s.format) (\(s.formatDetail))")
        row("architecture", s.architecture ?? "unknown")
        if let modelType = s.modelType { row("model type", modelType) }
        row("parameters", "\(humanCount(s.parameterCount)) (\(s.parameterCount))")
        row("size", humanBytes(s.byteCount))
        let byBytes = s.dtypes.sorted { ($0.value.bytes, $1.key) > ($1.value.bytes, $0.key) }
        for (i, (dtype, count)) in byBytes.enumerated() {
            row(i == 0 ? "dtypes" : "", dtype.padding(toLength: 8, withPad: " ", startingAt: 0)
                + "\(count.tensors) tensor\(count.tensors == 1 ? "" : "s"), \(humanCount(count.parameters)) parameters, \(humanBytes(count.bytes))")
        }
        if !s.metadata.isEmpty {
            lines.append("")
            lines.append("metadata (\(s.metadata.count))")
            let width = min(48, s.metadata.keys.map(\.count).max() ?? 0)
            for key in s.metadata.keys.sorted() {
                let value = s.metadata[key]!.replacingOccurrences(of: "\n", with: "\\n")
                lines.append("  " + key.padding(toLength: max(width, key.count), withPad: " ", startingAt: 0)
                             + "  " + (value.count > 100 ? String(value.prefix(99)) + "…" : value))
            }
        }
        lines.append("")
        lines.append("tensors (\(s.tensors.count))")
        let nameWidth = min(60, s.tensors.map(\.name.count).max() ?? 0)
        let shapes = s.tensors.map { "[" + $0.shape.map(String.init).joined(separator: ", ") + "]" }
        let shapeWidth = shapes.map(\.count).max() ?? 0
        for (tensor, shape) in zip(s.tensors, shapes) {
            lines.append("  " + tensor.name.padding(toLength: max(nameWidth, tensor.name.count), withPad: " ", startingAt: 0)
                         + "  " + shape.padding(toLength: shapeWidth, withPad: " ", startingAt: 0) + "  " + tensor.dtype)
        }
        return lines.joined(separator: "\n")
    }

    static func humanCount(_ n: Int) -> String {
        let value = Double(n)
        if value >= 1e9 { return String(format: "%.2fB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1fK", value / 1e3) }
        return String(n)
    }

    static func humanBytes(_ n: Int) -> String {
        let value = Double(n), kib = 1024.0
        if value >= kib * kib * kib { return String(format: "%.2f GiB", value / (kib * kib * kib)) }
        if value >= kib * kib { return String(format: "%.1f MiB", value / (kib * kib)) }
        if value >= kib { return String(format: "%.1f KiB", value / kib) }
        return "\(n) bytes"
    }
}
