import Foundation

/// Writes files and directories so a reader (or a crash) never sees them half written:
/// everything goes to a temporary name beside the target, then one rename publishes it.
enum AtomicDirectory {
    /// Writes `data` to `url` through a temporary file and a rename.
    static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                throw TrainingError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch let error as TrainingError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TrainingError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Builds a directory at `url`: `fill` writes into a fresh temporary directory, which
    /// then replaces whatever was at `url`.
    static func publish(_ url: URL, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = url.deletingLastPathComponent()
        let temporary = parent.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).partial")
        try? fm.removeItem(at: temporary)
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
            try fill(temporary)
            if fm.fileExists(atPath: url.path) {
                let old = parent.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).old")
                try? fm.removeItem(at: old)
                guard rename(url.path, old.path) == 0 else {
                    throw TrainingError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
                }
                guard rename(temporary.path, url.path) == 0 else {
                    throw TrainingError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
                }
                try? fm.removeItem(at: old)
            } else {
                guard rename(temporary.path, url.path) == 0 else {
                    throw TrainingError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
                }
            }
        } catch {
            try? fm.removeItem(at: temporary)
            if let error = error as? TrainingError { throw error }
            throw TrainingError.writeFailed(path: url.path, reason: "\(error)")
        }
    }
}
