import Foundation
import TrimtabPEFT

/// Writes an adapter as a Hugging Face PEFT directory with its task in
/// `trimtab_config.json` (see ``TaskFormat/adapterExtras(maxSequenceLength:)``).
enum AdapterExport {
    static func save(_ adapter: Adapter, task: TaskFormat, maxSequenceLength: Int, to directory: URL) throws {
        do {
            try AdapterFiles.save(adapter, to: directory, extras: task.adapterExtras(maxSequenceLength: maxSequenceLength))
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.writeFailed(path: directory.path, reason: "\(error)")
        }
    }
}
