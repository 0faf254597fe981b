/// Reads the header of a GGUF file (v2 or v3): magic, version, counts, metadata and
/// tensor infos, then checks every tensor's bytes against the file.
///
/// The file is untrusted, so every count and length is bounded before anything is
/// allocated: a string's length and an array's element count by the bytes left in the
/// file (each element takes at least ``GGUFValueType/minimumEncodedSize`` bytes), the
/// tensor and key counts likewise. The other limits mirror llama.cpp's
/// `gguf_init_from_file_impl` (ggml/src/gguf.cpp):
/// - version 1 (32-bit counts) and versions above 3 are rejected, as is a version whose
///   low 16 bits are zero (a big-endian file read on a little-endian machine);
/// - duplicate metadata keys and duplicate tensor names are errors;
/// - `general.alignment` must be a `uint32`, non-zero power of two (default 32);
/// - tensor names are shorter than `GGML_MAX_NAME` (64 bytes);
/// - at most `GGML_MAX_DIMS` (4) dimensions, each non-negative, element count below
///   `INT64_MAX`, a known `ggml_type`, and `ne[0]` a multiple of the type's block size;
/// - data offsets are multiples of the alignment, and the data section starts at the
///   first aligned position after the tensor infos.
/// Where llama.cpp requires tensors to be packed in order, this reader only requires
/// them to be in bounds and disjoint. Unlike llama.cpp (which rejects them), nested
/// arrays are read, up to ``maxArrayDepth`` levels, as the `gguf` Python package does.
struct GGUFParser {
    /// `GGML_MAX_NAME`: tensor names must be shorter.
    static let maxNameLength = 64
    /// `GGML_MAX_DIMS`.
    static let maxDimensions = 4
    /// How deep arrays of arrays may nest.
    static let maxArrayDepth = 8
    /// `GGUF_DEFAULT_ALIGNMENT`.
    static let defaultAlignment = 32
    /// The smallest possible tensor info: name length, rank, type and offset.
    static let minimumTensorInfoSize = 8 + 4 + 4 + 8
    /// The smallest possible key-value pair: key length, one key byte, type, one byte.
    static let minimumKeyValueSize = 8 + 1 + 4 + 1

    struct Header {
        var version: UInt32 = 0
        var metadata: [String: GGUFValue] = [:]
        var metadataKeys: [String] = []
        var tensorInfos: [GGUFTensorInfo] = []
        var alignment = GGUFParser.defaultAlignment
        var dataOffset = 0
    }

    private var reader: ByteReader
    private var path: String { reader.path }

    init(_ file: MappedFile) {
        reader = file.reader()
    }

    mutating func parse() throws -> Header {
        var header = Header()
        let magic = try reader.slice(4, "the magic bytes")
        guard Array(magic) == Array("GGUF".utf8) else {
            let shown = magic.map { (0x20 ..< 0x7F).contains($0) ? String(UnicodeScalar($0)) : "?" }.joined()
            throw CheckpointError.badMagic(path: path, expected: "GGUF", found: "'\(shown)'")
        }
        let version = try reader.read(UInt32.self, "the version")
        guard version & 0xFFFF != 0 else {
            throw CheckpointError.unsupportedVersion(
                path: path, version: version, supported: "2 and 3 little-endian; this looks like a big-endian file")
        }
        guard version == 2 || version == 3 else {
            throw CheckpointError.unsupportedVersion(path: path, version: version, supported: "2 and 3")
        }
        header.version = version

        let tensorCount = try count(reader.read(UInt64.self, "the tensor count"), "tensor count",
                                    minimumSize: Self.minimumTensorInfoSize)
        let kvCount = try count(reader.read(UInt64.self, "the metadata count"), "metadata count",
                                minimumSize: Self.minimumKeyValueSize)

        header.metadataKeys.reserveCapacity(kvCount)
        for i in 0 ..< kvCount {
            let key = try readString("metadata key \(i)")
            guard !key.isEmpty else { throw CheckpointError.invalidHeader(path: path, reason: "metadata key \(i) is empty") }
            guard header.metadata[key] == nil else { throw CheckpointError.duplicateName(path: path, name: key) }
            let type = try readType(key)
            header.metadata[key] = try readValue(type, key: key, depth: 0)
            header.metadataKeys.append(key)
        }

        if let value = header.metadata["general.alignment"] {
            guard case let .uint32(alignment) = value else {
                throw CheckpointError.wrongValueType(path: path, key: "general.alignment", expected: "uint32",
                                                     got: "\(value.type)")
            }
            guard alignment != 0, alignment & (alignment - 1) == 0 else {
                throw CheckpointError.invalidHeader(path: path, reason: "general.alignment \(alignment) is not a power of 2")
            }
            header.alignment = Int(alignment)
        }

        var names = Set<String>()
        header.tensorInfos.reserveCapacity(tensorCount)
        for i in 0 ..< tensorCount {
            let info = try readTensorInfo(i)
            guard names.insert(info.name).inserted else { throw CheckpointError.duplicateName(path: path, name: info.name) }
            header.tensorInfos.append(info)
        }

        let (padded, overflow) = reader.position.addingReportingOverflow(header.alignment - 1)
        guard !overflow else { throw CheckpointError.invalidHeader(path: path, reason: "data offset overflows") }
        header.dataOffset = padded / header.alignment * header.alignment
        try checkBounds(header)
        return header
    }

    // MARK: - Values

    /// A count from the file, bounded by how many items of `minimumSize` bytes fit in the rest.
    private func count(_ raw: UInt64, _ what: String, minimumSize: Int) throws -> Int {
        let limit = reader.remaining / minimumSize
        guard raw <= UInt64(limit) else {
            throw CheckpointError.valueTooLong(path: path, what: what, length: raw, limit: limit)
        }
        return Int(raw)
    }

    private mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let length = try reader.read(UInt64.self, "the length of \(what())")
        guard length <= UInt64(reader.remaining) else {
            throw CheckpointError.valueTooLong(path: path, what: "string (\(what()))", length: length,
                                               limit: reader.remaining)
        }
        return String(decoding: try reader.slice(Int(length), what()), as: UTF8.self)
    }

    private mutating func readType(_ key: String) throws -> GGUFValueType {
        let raw = try reader.read(UInt32.self, "the value type of '\(key)'")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw CheckpointError.invalidValueType(path: path, key: key, type: raw)
        }
        return type
    }

    private mutating func readValue(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, what))
        case .int8: return .int8(try reader.read(Int8.self, what))
        case .uint16: return .uint16(try reader.read(UInt16.self, what))
        case .int16: return .int16(try reader.read(Int16.self, what))
        case .uint32: return .uint32(try reader.read(UInt32.self, what))
        case .int32: return .int32(try reader.read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try reader.read(UInt32.self, what)))
        case .bool: return .bool(try reader.read(UInt8.self, what) != 0)
        case .uint64: return .uint64(try reader.read(UInt64.self, what))
        case .int64: return .int64(try reader.read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try reader.read(UInt64.self, what)))
        case .string: return .string(try readString(what))
        case .array:
            guard depth < Self.maxArrayDepth else {
                throw CheckpointError.invalidHeader(
                    path: path, reason: "'\(key)' nests arrays deeper than \(Self.maxArrayDepth) levels")
            }
            let elementType = try readType(key)
            let n = try count(reader.read(UInt64.self, "the array length of '\(key)'"), "array '\(key)'",
                              minimumSize: elementType.minimumEncodedSize)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(n)
            for _ in 0 ..< n {
                elements.append(try readValue(elementType, key: key, depth: depth + 1))
            }
            return .array(elementType, elements)
        }
    }

    // MARK: - Tensors

    private mutating func readTensorInfo(_ index: Int) throws -> GGUFTensorInfo {
        let name = try readString("tensor name \(index)")
        guard name.utf8.count < Self.maxNameLength else {
            throw CheckpointError.valueTooLong(path: path, what: "tensor name '\(name.prefix(80))'",
                                               length: UInt64(name.utf8.count), limit: Self.maxNameLength - 1)
        }
        let rank = try reader.read(UInt32.self, "the rank of '\(name)'")
        guard rank <= UInt32(Self.maxDimensions) else {
            throw CheckpointError.invalidShape(path: path, tensor: name, shape: [],
                                               reason: "\(rank) dimensions, at most \(Self.maxDimensions) allowed")
        }
        var raw: [Int64] = []
        for _ in 0 ..< Int(rank) { raw.append(try reader.read(Int64.self, "the dimensions of '\(name)'")) }
        guard raw.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.invalidShape(path: path, tensor: name, shape: raw, reason: "negative dimension")
        }
        var elements: Int64 = 1
        for dim in raw {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            guard !overflow, product < Int64.max else {
                throw CheckpointError.invalidShape(path: path, tensor: name, shape: raw, reason: "element count overflows")
            }
            elements = product
        }
        let typeCode = try reader.read(UInt32.self, "the type of '\(name)'")
        guard let type = GGMLType(rawValue: typeCode) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: "ggml type \(typeCode)")
        }
        let innermost = raw.first ?? 1
        guard innermost % Int64(type.blockSize) == 0 else {
            throw CheckpointError.invalidShape(
                path: path, tensor: name, shape: raw,
                reason: "rows of \(innermost) elements are not whole \(type.name) blocks of \(type.blockSize)")
        }
        guard let bytes = type.byteCount(elements: Int(elements)) else {
            throw CheckpointError.invalidShape(path: path, tensor: name, shape: raw, reason: "byte count overflows")
        }
        let offset = try reader.read(UInt64.self, "the data offset of '\(name)'")
        guard let offsetInt = Int(exactly: offset) else {
            throw CheckpointError.tensorOutOfBounds(path: path, tensor: name, begin: offset, end: offset,
                                                    available: reader.bytes.count)
        }
        return GGUFTensorInfo(name: name, dimensions: raw.map { Int($0) }, type: type, offset: offsetInt,
                              elementCount: Int(elements), byteCount: bytes)
    }

    /// Every tensor aligned, inside the file, and disjoint from the others.
    private func checkBounds(_ header: Header) throws {
        let fileSize = reader.bytes.count
        for info in header.tensorInfos {
            guard info.offset % header.alignment == 0 else {
                throw CheckpointError.misaligned(path: path, tensor: info.name, offset: UInt64(info.offset),
                                                 alignment: header.alignment)
            }
            let (begin, o1) = header.dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = begin.addingReportingOverflow(info.byteCount)
            guard !o1, !o2, end <= fileSize else {
                throw CheckpointError.tensorOutOfBounds(
                    path: path, tensor: info.name, begin: UInt64(clamping: info.offset),
                    end: UInt64(clamping: info.offset) &+ UInt64(clamping: info.byteCount),
                    available: max(0, fileSize - header.dataOffset))
            }
        }
        let ordered = header.tensorInfos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw CheckpointError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
    }
}
