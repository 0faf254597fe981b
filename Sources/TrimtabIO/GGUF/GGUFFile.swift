import Foundation
import TrimtabTensor

/// A memory-mapped GGUF file (version 2 or 3): typed metadata, tensor infos, and tensors
/// dequantised to f32 or as raw quantised bytes.
///
/// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md. Opening the file
/// parses and validates the whole header (see ``GGUFParser`` for the limits, which mirror
/// llama.cpp's); tensor data is read only when asked for.
public final class GGUFFile: @unchecked Sendable {
    /// The file's path, as used in error messages.
    public let path: String
    /// Format version (2 or 3).
    public let version: UInt32
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// Alignment of tensor data (`general.alignment`, default 32).
    public let alignment: Int
    /// Offset of the data section from the start of the file.
    public let dataOffset: Int

    private let index: [String: Int]
    let file: MappedFile

    /// Maps and validates the GGUF file at `url`.
    public convenience init(url: URL) throws {
        try self.init(mapping: MappedFile(path: url.path))
    }

    /// Parses a GGUF file held in memory (copied); `name` is used in errors.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        try self.init(mapping: MappedFile(bytes: bytes, path: name))
    }

    init(mapping: MappedFile) throws {
        var parser = GGUFParser(mapping)
        let header = try parser.parse()
        file = mapping
        path = mapping.path
        version = header.version
        metadata = header.metadata
        metadataKeys = header.metadataKeys
        tensorInfos = header.tensorInfos
        alignment = header.alignment
        dataOffset = header.dataOffset
        index = Dictionary(uniqueKeysWithValues: header.tensorInfos.enumerated().map { ($1.name, $0) })
    }

    // MARK: - Metadata

    /// `general.architecture` (`llama`, `qwen2`, `gemma3`, …).
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// The value of `key`, or ``CheckpointError/missingMetadata(path:key:)``.
    public func value(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw CheckpointError.missingMetadata(path: path, key: key) }
        return value
    }

    /// The integer value of `key`; throws if it is missing or not an integer.
    public func int(_ key: String) throws -> Int {
        let value = try value(key)
        guard let int = value.int else {
            throw CheckpointError.wrongValueType(path: path, key: key, expected: "an integer", got: "\(value.type)")
        }
        return int
    }

    /// The numeric value of `key` as a `Float`; throws if it is missing or not a number.
    public func float(_ key: String) throws -> Float {
        let value = try value(key)
        guard let float = value.float else {
            throw CheckpointError.wrongValueType(path: path, key: key, expected: "a number", got: "\(value.type)")
        }
        return float
    }

    /// The string value of `key`; throws if it is missing or not a string.
    public func string(_ key: String) throws -> String {
        let value = try value(key)
        guard let string = value.string else {
            throw CheckpointError.wrongValueType(path: path, key: key, expected: "a string", got: "\(value.type)")
        }
        return string
    }

    // MARK: - Tensors

    /// Tensor names in file order.
    public var tensorNames: [String] { tensorInfos.map(\.name) }

    /// Whether the file has a tensor called `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The info of tensor `name`.
    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else { throw CheckpointError.missingTensor(path: path, name: name) }
        return tensorInfos[i]
    }

    /// The raw (quantised) bytes of `name`, valid while this object is alive.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        let begin = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: file.bytes[begin ..< begin + info.byteCount])
    }

    /// The raw (quantised) bytes of `name` as borrowed storage that keeps the mapping
    /// alive, for kernels that work on quantised blocks directly. Read-only memory.
    public func rawStorage(_ name: String) throws -> TensorStorage {
        let raw = try rawBytes(name)
        guard let base = raw.baseAddress else { return TensorStorage(byteCount: 0) }
        return TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: base), byteCount: raw.count, owner: file)
    }

    /// The tensor `name` in row-major ``GGUFTensorInfo/shape``, as `dtype` (f32 default).
    ///
    /// F32 tensors (and F16/BF16 ones asked for as f16/bf16) borrow the mapped file
    /// without copying; everything else is dequantised into new f32 storage (and then
    /// converted if `dtype` is not f32). Types without a kernel throw
    /// ``CheckpointError/unsupportedQuantization(path:tensor:type:)``.
    public func tensor(_ name: String, as dtype: DType = .f32) throws -> Tensor {
        let info = try info(name)
        let raw = try rawBytes(name)
        let stored: DType? = info.type == .f32 ? .f32 : info.type == .f16 ? .f16 : info.type == .bf16 ? .bf16 : nil
        if stored == dtype, let src = raw.baseAddress, Int(bitPattern: src) % dtype.byteSize == 0 {
            let storage = TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: src), byteCount: raw.count,
                                        owner: file)
            return Tensor(storage: storage, shape: info.shape, dtype: dtype)
        }
        guard info.type.isDequantizable else {
            throw CheckpointError.unsupportedQuantization(path: path, tensor: name, type: info.type.name)
        }
        let out = Tensor(zeros: info.shape)
        if let src = raw.baseAddress, info.elementCount > 0 {
            Dequantize.run(info.type, src, out.floats, count: info.elementCount)
        }
        return dtype == .f32 ? out : out.converted(to: dtype)
    }
}
