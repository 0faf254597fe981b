import Foundation
import TrimtabTensor

/// A memory-mapped `.safetensors` file.
///
/// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length `N`, `N` bytes of JSON (`{"name": {"dtype", "shape", "data_offsets"}, …,
/// "__metadata__": {string: string}}`), then the data section. Opening the file validates
/// every entry with the reference implementation's rules: known dtype, non-negative shape
/// whose element count × element size equals `end − begin`, and byte ranges that tile the
/// data section exactly (in bounds, no overlaps, no gaps, no trailing bytes).
///
/// ``tensor(_:as:)`` returns f32 (and same-typed f16/bf16) tensors without copying: they
/// borrow the read-only mapping and keep it alive. Copy a tensor before writing to it.
public final class SafetensorsFile: @unchecked Sendable {
    /// The largest JSON header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    /// The file's path, as used in error messages.
    public let path: String
    /// The `__metadata__` map (empty if the file has none).
    public let metadata: [String: String]
    /// Tensor names in the order their data appears in the file.
    public let tensorNames: [String]
    /// Offset of the data section from the start of the file (8 + header length).
    public let dataStart: Int

    private let infos: [String: SafetensorsTensorInfo]
    let file: MappedFile

    /// Maps and validates the file at `url`.
    public convenience init(url: URL) throws {
        try self.init(mapping: MappedFile(path: url.path))
    }

    /// Parses a safetensors file held in memory (copied); `name` is used in errors.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        try self.init(mapping: MappedFile(bytes: bytes, path: name))
    }

    init(mapping: MappedFile) throws {
        file = mapping
        path = mapping.path
        var reader = mapping.reader()
        let headerLength = try reader.read(UInt64.self, "the 8-byte header length")
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw CheckpointError.headerTooLarge(path: path, byteCount: headerLength, limit: Self.maxHeaderBytes)
        }
        let headerBytes = try reader.slice(Int(headerLength), "the JSON header")
        dataStart = reader.position
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw CheckpointError.invalidHeader(path: path, reason: "the JSON header does not start with '{'")
        }
        let header: RawHeader
        do {
            header = try JSONDecoder().decode(RawHeader.self, from: Data(headerBytes))
        } catch let error as DecodingError {
            throw CheckpointError.badJSON(path: path, reason: error.summary)
        } catch {
            throw CheckpointError.badJSON(path: path, reason: "\(error)")
        }
        metadata = header.metadata ?? [:]

        let dataLength = mapping.count - dataStart
        var infos: [String: SafetensorsTensorInfo] = [:]
        infos.reserveCapacity(header.entries.count)
        for (name, entry) in header.entries {
            infos[name] = try Self.validate(name: name, entry: entry, dataLength: dataLength, path: path)
        }
        let ordered = infos.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name)
                < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        var end = 0
        var previous = ""
        for info in ordered {
            if info.dataOffsets.lowerBound < end {
                throw CheckpointError.overlappingTensors(path: path, first: previous, second: info.name)
            }
            if info.dataOffsets.lowerBound > end {
                throw CheckpointError.invalidHeader(
                    path: path, reason: "bytes \(end)..<\(info.dataOffsets.lowerBound) of the data section "
                        + "before '\(info.name)' belong to no tensor")
            }
            end = info.dataOffsets.upperBound
            previous = info.name
        }
        if end != dataLength {
            throw CheckpointError.invalidHeader(
                path: path, reason: "the data section has \(dataLength) bytes but the tensors cover \(end)")
        }
        self.infos = infos
        tensorNames = ordered.map(\.name)
    }

    /// Checks one header entry against the format's rules.
    private static func validate(name: String, entry: RawEntry, dataLength: Int,
                                 path: String) throws -> SafetensorsTensorInfo {
        guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: entry.dtype)
        }
        guard entry.dataOffsets.count == 2 else {
            throw CheckpointError.invalidHeader(
                path: path, reason: "tensor '\(name)' has \(entry.dataOffsets.count) data_offsets, expected 2")
        }
        let begin = entry.dataOffsets[0], end = entry.dataOffsets[1]
        guard begin >= 0, end >= begin else {
            throw CheckpointError.invalidHeader(
                path: path, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)]")
        }
        guard end <= dataLength else {
            throw CheckpointError.tensorOutOfBounds(path: path, tensor: name, begin: UInt64(begin),
                                                    end: UInt64(end), available: dataLength)
        }
        guard entry.shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.invalidShape(path: path, tensor: name, shape: entry.shape.map(Int64.init),
                                               reason: "negative dimension")
        }
        var bytes = dtype.byteSize
        for dim in entry.shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw CheckpointError.invalidShape(path: path, tensor: name, shape: entry.shape.map(Int64.init),
                                                   reason: "byte count overflows")
            }
            bytes = product
        }
        guard bytes == end - begin else {
            throw CheckpointError.byteCountMismatch(path: path, tensor: name, shape: entry.shape,
                                                    dtype: dtype.rawValue, expected: bytes, got: end - begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: entry.shape, dataOffsets: begin ..< end)
    }

    // MARK: - Lookup

    /// Whether the file has a tensor called `name`.
    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The header entry of `name`.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = infos[name] else { throw CheckpointError.missingTensor(path: path, name: name) }
        return info
    }

    /// Every header entry, in file order.
    public var tensorInfos: [SafetensorsTensorInfo] { tensorNames.compactMap { infos[$0] } }

    /// The raw bytes of `name` (valid while this file object is alive).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        return UnsafeRawBufferPointer(rebasing: file.bytes[dataStart + info.dataOffsets.lowerBound
                                                           ..< dataStart + info.dataOffsets.upperBound])
    }
}

// MARK: - JSON header

/// The header as written: tensor entries plus the optional `__metadata__` map.
private struct RawHeader: Decodable {
    var metadata: [String: String]?
    var entries: [(String, RawEntry)] = []

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                entries.append((key.stringValue, try container.decode(RawEntry.self, forKey: key)))
            }
        }
    }
}

private struct RawEntry: Decodable {
    let dtype: String
    let shape: [Int]
    let dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}
