import Foundation

/// A run's `metrics.jsonl`, appended one record a line and flushed after each.
final class MetricsLog {
    let url: URL
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Opens the log for appending. With `keepingThrough: step` (a resumed run) records
    /// after `step` are dropped first; with `nil` the log starts empty.
    init(url: URL, keepingThrough step: Int?) throws {
        self.url = url
        var kept = Data()
        if let step, FileManager.default.fileExists(atPath: url.path) {
            let records = try Self.read(url).filter { $0.step <= step }
            let encoder = Self.makeEncoder()
            for record in records { kept += try encoder.encode(record) + Data("\n".utf8) }
        }
        try AtomicDirectory.write(kept, to: url)
        do {
            handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
        } catch {
            throw TrainingError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
        encoder = Self.makeEncoder()
    }

    deinit { try? handle.close() }

    func append(_ record: MetricsRecord) throws {
        do {
            try handle.write(contentsOf: try encoder.encode(record) + Data("\n".utf8))
        } catch {
            throw TrainingError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Every record of a metrics file.
    static func read(_ url: URL) throws -> [MetricsRecord] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        let decoder = JSONDecoder()
        return try data.split(separator: 0x0A).filter { !$0.isEmpty }.map { line in
            do {
                return try decoder.decode(MetricsRecord.self, from: line)
            } catch {
                throw TrainingError.invalidCheckpoint(path: url.path, reason: "unreadable metrics line: \(error)")
            }
        }
    }

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
