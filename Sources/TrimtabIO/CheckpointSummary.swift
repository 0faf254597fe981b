import Foundation

/// What a checkpoint holds: format, architecture, parameter count, element types and the
/// tensor list. `trimtab inspect` prints it as a table or as JSON.
public struct CheckpointSummary: Codable, Sendable, Equatable {
    /// One tensor: name, row-major shape, element type as the file spells it.
    public struct TensorEntry: Codable, Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let dtype: String
    }

    /// How many tensors, elements and bytes of one element type the checkpoint has.
    public struct DTypeCount: Codable, Sendable, Equatable {
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
    }

    /// The file or directory summarised.
    public let path: String
    /// `gguf` or `safetensors`.
    public let format: String
    /// GGUF version, or the number of safetensors files.
    public let formatDetail: String
    /// `general.architecture` (GGUF) or the first of config.json's `architectures`.
    public let architecture: String?
    /// config.json's `model_type`, if there is one.
    public let modelType: String?
    /// Total number of elements over all tensors.
    public let parameterCount: Int
    /// Total bytes of tensor data.
    public let byteCount: Int
    /// Tensors, elements and bytes per element type.
    public let dtypes: [String: DTypeCount]
    /// Every tensor, in file order.
    public let tensors: [TensorEntry]
    /// GGUF metadata (arrays abbreviated) or safetensors `__metadata__`.
    public let metadata: [String: String]

    /// Summarises a `.gguf` file, a `.safetensors` file, or a model directory.
    public static func load(_ url: URL) throws -> CheckpointSummary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.cannotOpen(path: url.path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            return try summarise(SafetensorsCheckpoint(directory: url), config: url.appendingPathComponent("config.json"))
        }
        if try isGGUF(url) { return try summarise(GGUFFile(url: url)) }
        let config = url.deletingLastPathComponent().appendingPathComponent("config.json")
        return try summarise(SafetensorsCheckpoint(file: url), config: config)
    }

    private static func isGGUF(_ url: URL) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw CheckpointError.cannotOpen(path: url.path, reason: "cannot read the file")
        }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    static func summarise(_ file: GGUFFile) -> CheckpointSummary {
        var dtypes: [String: DTypeCount] = [:]
        let tensors = file.tensorInfos.map { info -> TensorEntry in
            dtypes[info.type.name, default: DTypeCount(tensors: 0, parameters: 0, bytes: 0)].add(info.elementCount,
                                                                                              info.byteCount)
            return TensorEntry(name: info.name, shape: info.shape, dtype: info.type.name)
        }
        return CheckpointSummary(
            path: file.path, format: "gguf", formatDetail: "GGUF v\(file.version)", architecture: file.architecture,
            modelType: nil, parameterCount: file.tensorInfos.reduce(0) { $0 + $1.elementCount },
            byteCount: file.tensorInfos.reduce(0) { $0 + $1.byteCount }, dtypes: dtypes, tensors: tensors,
            metadata: file.metadata.mapValues(\.description))
    }

    static func summarise(_ checkpoint: SafetensorsCheckpoint, config: URL) throws -> CheckpointSummary {
        var dtypes: [String: DTypeCount] = [:]
        var tensors: [TensorEntry] = []
        var parameters = 0, bytes = 0
        for file in checkpoint.files {
            for info in file.tensorInfos {
                dtypes[info.dtype.rawValue, default: DTypeCount(tensors: 0, parameters: 0, bytes: 0)]
                    .add(info.elementCount, info.byteCount)
                tensors.append(TensorEntry(name: info.name, shape: info.shape, dtype: info.dtype.rawValue))
                parameters += info.elementCount
                bytes += info.byteCount
            }
        }
        var architecture: String?, modelType: String?
        if FileManager.default.fileExists(atPath: config.path) {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(contentsOf: config))
            } catch {
                throw CheckpointError.badJSON(path: config.path, reason: error.localizedDescription)
            }
            let dictionary = object as? [String: Any]
            architecture = (dictionary?["architectures"] as? [Any])?.first as? String
            modelType = dictionary?["model_type"] as? String
        }
        let count = checkpoint.files.count
        return CheckpointSummary(
            path: checkpoint.url.path, format: "safetensors",
            formatDetail: count == 1 ? "1 file" : "\(count) files", architecture: architecture ?? modelType,
            modelType: modelType, parameterCount: parameters, byteCount: bytes, dtypes: dtypes, tensors: tensors,
            metadata: checkpoint.metadata)
    }
}

extension CheckpointSummary.DTypeCount {
    mutating func add(_ elements: Int, _ byteCount: Int) {
        tensors += 1
        parameters += elements
        bytes += byteCount
    }
}
