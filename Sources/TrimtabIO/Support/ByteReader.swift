/// A little-endian cursor over untrusted bytes. Every read checks the remaining length
/// first and throws ``CheckpointError/truncated(path:what:offset:needed:fileSize:)``.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let path: String

    /// Bytes left after the cursor.
    var remaining: Int { bytes.count - position }

    /// Throws unless `count` more bytes are available.
    func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw CheckpointError.truncated(path: path, what: what(), offset: position,
                                            needed: count, fileSize: bytes.count)
        }
    }

    /// Reads one little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// Returns the next `count` bytes (a view, no copy) and moves past them.
    mutating func slice(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, what())
        let out = UnsafeRawBufferPointer(rebasing: bytes[position ..< position + count])
        position += count
        return out
    }

    /// Skips `count` bytes.
    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws {
        try require(count, what())
        position += count
    }
}
