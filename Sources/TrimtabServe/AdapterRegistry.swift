import Foundation
import TrimtabModels
import TrimtabPEFT
import TrimtabTensor

/// Why the registry could not provide an adapter.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    /// The name breaks ``AdapterName``'s rules.
    case invalidName(String, reason: String)
    /// No loaded adapter and no directory of that name.
    case notFound(String)
    /// The directory exists but does not load (the reason names file and field).
    case loadFailed(String, reason: String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason): return "adapter name '\(name)' \(reason)"
        case let .notFound(name): return "no adapter named '\(name)'"
        case let .loadFailed(name, reason): return "adapter '\(name)' does not load: \(reason)"
        }
    }
}

/// The adapters a server offers: those loaded, and any directory below ``directory``
/// (loaded on first use, so adapters copied there are found without a restart).
public final class AdapterRegistry: @unchecked Sendable {
    /// A loaded adapter and what `/v1/models` reports about it.
    public struct Entry: @unchecked Sendable {
        public let name: String
        public let adapter: Adapter
        /// PEFT's `peft_type`.
        public let method: String
        /// Numbers in the adapter's tensors, and their bytes in f32.
        public let parameterCount: Int
        /// KV-cache positions the adapter adds in front of a prompt (prompt tuning's
        /// virtual tokens; 0 for prefix tuning, whose rows are not cached).
        public let cachePositions: Int
        public let loaded: Date
    }

    /// What `/v1/models` lists for an adapter directory not loaded yet.
    public struct Available: Sendable {
        public let name: String
        public let method: String?
        public let bytes: Int
    }

    /// Where adapter directories live (`nil`: only adapters registered in code).
    public let directory: URL?
    let model: LanguageModel
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    public init(directory: URL?, model: LanguageModel) {
        self.directory = directory?.standardizedFileURL
        self.model = model
    }

    /// The adapter called `name`, loading it from the directory on a miss.
    public func entry(_ name: String) throws -> Entry {
        try validate(name)
        lock.lock()
        let cached = entries[name]
        lock.unlock()
        if let cached { return cached }
        return try load(name)
    }

    /// Loads (or reloads) `name` from the directory.
    @discardableResult
    public func load(_ name: String) throws -> Entry {
        try validate(name)
        guard let url = directoryURL(name), FileManager.default.fileExists(atPath: url.appendingPathComponent(AdapterFiles.configurationName).path) else {
            throw RegistryError.notFound(name)
        }
        let adapter: Adapter
        do {
            adapter = try AdapterFiles.load(from: url, model: model).0
        } catch {
            throw RegistryError.loadFailed(name, reason: "\(error)")
        }
        if let reason = MixedBatchHooks().unsupportedReason(adapter) { throw RegistryError.loadFailed(name, reason: reason) }
        return register(adapter, name: name)
    }

    /// Adds an adapter built in code under `name` (replacing one of that name).
    @discardableResult
    public func register(_ adapter: Adapter, name: String) -> Entry {
        adapter.isTraining = false
        let count = adapter.exportedTensors().values.reduce(0) { $0 + $1.count }
        let entry = Entry(name: name, adapter: adapter, method: adapter.peftType, parameterCount: count,
                          cachePositions: Self.cachePositions(of: adapter, model: model), loaded: Date())
        lock.lock()
        entries[name] = entry
        lock.unlock()
        return entry
    }

    /// Forgets `name`; returns whether it was loaded. Requests already running keep it.
    @discardableResult
    public func unload(_ name: String) throws -> Bool {
        try validate(name)
        lock.lock()
        defer { lock.unlock() }
        return entries.removeValue(forKey: name) != nil
    }

    /// Loaded adapters, by name.
    public var loadedEntries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return entries.values.sorted { $0.name < $1.name }
    }

    /// Adapter directories not loaded yet (each with `adapter_config.json`).
    public func unloadedDirectories() -> [Available] {
        guard let directory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        lock.lock()
        let loadedNames = Set(entries.keys)
        lock.unlock()
        return names.sorted().compactMap { name in
            guard AdapterName.problem(name) == nil, !loadedNames.contains(name) else { return nil }
            let dir = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(AdapterFiles.configurationName).path)
            else { return nil }
            let method = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["peft_type"] as? String
            let size = (try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(AdapterFiles.weightsName).path)[.size] as? Int) ?? 0
            return Available(name: name, method: method, bytes: size)
        }
    }

    private func validate(_ name: String) throws {
        if let reason = AdapterName.problem(name) { throw RegistryError.invalidName(name, reason: reason) }
    }

    /// The directory of a valid name, checked to lie directly inside ``directory``.
    private func directoryURL(_ name: String) -> URL? {
        guard let directory else { return nil }
        let url = directory.appendingPathComponent(name, isDirectory: true).standardizedFileURL
        guard url.deletingLastPathComponent().standardizedFileURL.path == directory.path else { return nil }
        return url
    }

    /// Positions the adapter puts in front of a one-token prompt.
    static func cachePositions(of adapter: Adapter, model: LanguageModel) -> Int {
        let tape = Tape(recording: false)
        let embeddings = Variable(Tensor(zeros: [1, 1, model.hiddenSize]))
        return adapter.inputEmbeddings(embeddings, batch: TokenBatch(rows: [[0]]), tape: tape).virtualCount
    }
}
