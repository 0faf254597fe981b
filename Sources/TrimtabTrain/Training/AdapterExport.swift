import Foundation
import TrimtabIO
import TrimtabPEFT

/// Writes an adapter as a Hugging Face PEFT directory, with the task beside it.
enum AdapterExport {
    /// The file holding the ``TaskFormat`` in an adapter directory.
    static let taskFile = "trimtab_task.json"

    /// Writes `adapter_config.json`, `adapter_model.safetensors` and the task into `directory`.
    static func save(_ adapter: Adapter, task: TaskFormat, to directory: URL) throws {
        try AtomicDirectory.write(try adapter.encodedConfiguration(), to: directory.appendingPathComponent("adapter_config.json"))
        try SafetensorsWriter.write(adapter.exportedTensors(), metadata: ["format": "pt"],
                                    to: directory.appendingPathComponent("adapter_model.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicDirectory.write(try encoder.encode(task), to: directory.appendingPathComponent(taskFile))
    }
}
