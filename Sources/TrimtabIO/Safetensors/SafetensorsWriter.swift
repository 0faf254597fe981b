#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TrimtabTensor

/// Writes `.safetensors` files the way the reference implementation does.
///
/// Tensors are laid out by element size, largest first (F32, then BF16, then F16), and by
/// name within a size, so every tensor stays aligned to its element size; the JSON header
/// lists `__metadata__` first and the tensors in data order, compact, and is padded with
/// spaces to a multiple of 8 bytes. The file is written to a temporary name in the same
/// directory, synced, and renamed over the target, so readers never see a partial file.
public enum SafetensorsWriter {
    /// Writes `tensors` (and optional `__metadata__`) to `url`, replacing any file there.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil, to url: URL) throws {
        let path = url.path
        for name in tensors.keys where name.isEmpty || name == "__metadata__" {
            throw CheckpointError.invalidTensor(path: path, name: name, reason: "reserved or empty name")
        }
        let ordered = tensors.sorted { a, b in
            let (ra, rb) = (rank(a.value.dtype), rank(b.value.dtype))
            return ra != rb ? ra > rb : a.key < b.key
        }
        let header = encodeHeader(ordered, metadata: metadata)

        let directory = url.deletingLastPathComponent().path
        let temporary = "\(directory)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.writeFailed(path: path, reason: MappedFile.errnoText()) }
        var closed = false
        do {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writeAll(fd, $0, path: path) }
            try header.withUnsafeBytes { try writeAll(fd, $0, path: path) }
            for (_, tensor) in ordered {
                let bytes = UnsafeRawBufferPointer(start: tensor.rawPointer, count: tensor.count * tensor.dtype.byteSize)
                try writeAll(fd, bytes, path: path)
            }
            guard fsync(fd) == 0 else { throw CheckpointError.writeFailed(path: path, reason: MappedFile.errnoText()) }
            closed = true
            guard close(fd) == 0 else { throw CheckpointError.writeFailed(path: path, reason: MappedFile.errnoText()) }
            guard rename(temporary, path) == 0 else {
                throw CheckpointError.writeFailed(path: path, reason: "rename: \(MappedFile.errnoText())")
            }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
    }

    /// The padded JSON header for tensors in data order.
    static func encodeHeader(_ ordered: [(key: String, value: Tensor)], metadata: [String: String]?) -> [UInt8] {
        var json = "{"
        var first = true
        if let metadata {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0] ?? ""))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for (name, tensor) in ordered {
            let size = tensor.count * tensor.dtype.byteSize
            if !first { json += "," }
            first = false
            json += "\(quoted(name)):{\"dtype\":\"\(SafetensorsDType(tensor.dtype).rawValue)\","
            json += "\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
            json += "\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// Order of element types in the data section (the reference sorts by dtype, descending).
    private static func rank(_ dtype: DType) -> Int {
        switch dtype {
        case .f32: return 2
        case .bf16: return 1
        case .f16: return 0
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = posixWrite(fd, next, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.writeFailed(path: path, reason: MappedFile.errnoText())
            }
            next += n
            left -= n
        }
    }
}

/// `write(2)`, named apart from ``SafetensorsWriter/write(_:metadata:to:)``.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
