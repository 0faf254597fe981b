import Foundation
import TrimtabTensor

/// The weights of a Hugging Face model directory, in one or more safetensors files.
///
/// Finds the files the way `transformers` does: `model.safetensors.index.json` (its
/// `weight_map` names the shard of every tensor) if present, else `model.safetensors`,
/// else every `*.safetensors` file in the directory (a name in two files is an error).
/// Every shard is memory-mapped and validated when the checkpoint opens.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    /// The directory (or, for a single file, the file) the checkpoint was opened from.
    public let url: URL
    /// The opened files, in name order.
    public let files: [SafetensorsFile]
    /// Every tensor name, sorted.
    public let tensorNames: [String]
    /// The index's `metadata` (values as text) or, without an index, the first file's
    /// `__metadata__`.
    public let metadata: [String: String]

    private let shardOf: [String: SafetensorsFile]

    /// The name of the index file of a sharded checkpoint.
    public static let indexFileName = "model.safetensors.index.json"

    /// Opens the checkpoint in `directory`.
    public init(directory: URL) throws {
        url = directory
        let fm = FileManager.default
        let index = directory.appendingPathComponent(Self.indexFileName)
        if fm.fileExists(atPath: index.path) {
            let (weightMap, indexMetadata) = try Self.readIndex(index)
            var opened: [String: SafetensorsFile] = [:]
            var shardOf: [String: SafetensorsFile] = [:]
            for (tensor, shard) in weightMap {
                let file: SafetensorsFile
                if let existing = opened[shard] {
                    file = existing
                } else {
                    file = try SafetensorsFile(url: directory.appendingPathComponent(shard))
                    opened[shard] = file
                }
                guard file.contains(tensor) else {
                    throw CheckpointError.missingTensor(path: file.path, name: tensor)
                }
                shardOf[tensor] = file
            }
            self.shardOf = shardOf
            files = opened.keys.sorted().compactMap { opened[$0] }
            metadata = indexMetadata
        } else {
            let single = directory.appendingPathComponent("model.safetensors")
            let names: [String]
            if fm.fileExists(atPath: single.path) {
                names = ["model.safetensors"]
            } else {
                let listing: [String]
                do { listing = try fm.contentsOfDirectory(atPath: directory.path) } catch {
                    throw CheckpointError.cannotOpen(path: directory.path, reason: "\(error.localizedDescription)")
                }
                names = listing.filter { $0.hasSuffix(".safetensors") }.sorted()
            }
            guard !names.isEmpty else {
                throw CheckpointError.cannotOpen(
                    path: directory.path, reason: "no \(Self.indexFileName), model.safetensors or *.safetensors here")
            }
            let files = try names.map { try SafetensorsFile(url: directory.appendingPathComponent($0)) }
            self.files = files
            self.shardOf = try Self.merge(files)
            metadata = files.first?.metadata ?? [:]
        }
        tensorNames = shardOf.keys.sorted()
    }

    /// A checkpoint of one safetensors file.
    public init(file: URL) throws {
        url = file
        let opened = try SafetensorsFile(url: file)
        files = [opened]
        shardOf = try Self.merge([opened])
        tensorNames = shardOf.keys.sorted()
        metadata = opened.metadata
    }

    /// Whether some shard holds `name`.
    public func contains(_ name: String) -> Bool { shardOf[name] != nil }

    /// The file that holds `name`.
    public func file(holding name: String) throws -> SafetensorsFile {
        guard let file = shardOf[name] else { throw CheckpointError.missingTensor(path: url.path, name: name) }
        return file
    }

    /// The header entry of `name`.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        try file(holding: name).info(name)
    }

    /// The tensor `name` as `dtype` (see ``SafetensorsFile/tensor(_:as:)``).
    public func tensor(_ name: String, as dtype: DType = .f32) throws -> Tensor {
        try file(holding: name).tensor(name, as: dtype)
    }

    // MARK: - Helpers

    private static func merge(_ files: [SafetensorsFile]) throws -> [String: SafetensorsFile] {
        var shardOf: [String: SafetensorsFile] = [:]
        for file in files {
            for name in file.tensorNames {
                if shardOf[name] != nil { throw CheckpointError.duplicateName(path: file.path, name: name) }
                shardOf[name] = file
            }
        }
        return shardOf
    }

    /// Reads `weight_map` (tensor → shard file name) and `metadata` from an index file.
    private static func readIndex(_ url: URL) throws -> ([String: String], [String: String]) {
        let path = url.path
        let data: Data
        do {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            guard size <= SafetensorsFile.maxHeaderBytes else {
                throw CheckpointError.headerTooLarge(path: path, byteCount: UInt64(size),
                                                     limit: SafetensorsFile.maxHeaderBytes)
            }
            data = try Data(contentsOf: url)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.cannotOpen(path: path, reason: error.localizedDescription)
        }
        let index: ShardIndex
        do { index = try JSONDecoder().decode(ShardIndex.self, from: data) } catch let error as DecodingError {
            throw CheckpointError.badJSON(path: path, reason: error.summary)
        } catch {
            throw CheckpointError.badJSON(path: path, reason: "\(error)")
        }
        for shard in Set(index.weightMap.values) {
            // Shards are plain file names beside the index: nothing may point elsewhere.
            guard !shard.isEmpty, shard != ".", shard != "..", !shard.contains("/"), !shard.contains("\0") else {
                throw CheckpointError.invalidHeader(path: path, reason: "shard name '\(shard)' is not a file name")
            }
        }
        return (index.weightMap, index.metadata ?? [:])
    }
}

/// `model.safetensors.index.json`.
private struct ShardIndex: Decodable {
    let weightMap: [String: String]
    let metadata: [String: String]?

    enum CodingKeys: String, CodingKey {
        case weightMap = "weight_map"
        case metadata
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weightMap = try c.decode([String: String].self, forKey: .weightMap)
        // Metadata values are numbers (total_size) or strings; keep them as text.
        if c.contains(.metadata), let raw = try? c.decode([String: JSONScalar].self, forKey: .metadata) {
            metadata = raw.mapValues(\.text)
        } else {
            metadata = nil
        }
    }
}

/// A JSON scalar kept as text.
private struct JSONScalar: Decodable {
    let text: String
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { text = s }
        else if let i = try? c.decode(Int64.self) { text = String(i) }
        else if let d = try? c.decode(Double.self) { text = String(d) }
        else if let b = try? c.decode(Bool.self) { text = String(b) }
        else { text = "" }
    }
}
