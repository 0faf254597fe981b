#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The bytes of a checkpoint file: a read-only memory map of the file, or (for tests and
/// in-memory buffers) a private copy.
///
/// Tensors that borrow these bytes hold a reference to this object, so the mapping lives
/// as long as any of them. The map is `PROT_READ`: writing through a borrowed tensor
/// traps, so callers that want to modify a weight `copy()` it first.
final class MappedFile: @unchecked Sendable {
    /// The path used in error messages.
    let path: String
    /// First byte (nil only for an empty file).
    let base: UnsafeMutableRawPointer?
    /// Size in bytes.
    let count: Int
    private let mapped: Bool

    /// Maps the file at `path` read-only.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.cannotOpen(path: path, reason: MappedFile.errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.cannotOpen(path: path, reason: MappedFile.errnoText())
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        self.count = size
        self.mapped = size > 0
        if size == 0 {
            self.base = nil
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw CheckpointError.cannotOpen(path: path, reason: "mmap failed: \(MappedFile.errnoText())")
        }
        self.base = address
    }

    /// A private copy of `bytes`, named `path` in errors.
    init(bytes: [UInt8], path: String) {
        self.path = path
        self.count = bytes.count
        self.mapped = false
        if bytes.isEmpty {
            self.base = nil
            return
        }
        // 64-byte aligned like a page-aligned map, so alignment behaves as for real files.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        self.base = raw
    }

    deinit {
        guard let base else { return }
        if mapped { munmap(base, count) } else { base.deallocate() }
    }

    /// All bytes, for parsing.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A bounds-checked reader starting at `offset`.
    func reader(at offset: Int = 0) -> ByteReader {
        ByteReader(bytes: bytes, position: offset, path: path)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
