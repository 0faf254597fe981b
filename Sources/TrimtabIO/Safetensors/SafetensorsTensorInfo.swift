/// One entry of a safetensors header: a tensor's name, element type, shape and where its
/// bytes are.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's key in the header.
    public let name: String
    /// Element type.
    public let dtype: SafetensorsDType
    /// Extent of each dimension, outermost first (row-major).
    public let shape: [Int]
    /// Byte range relative to the start of the data section (`data_offsets`).
    public let dataOffsets: Range<Int>

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Size of the tensor's data in bytes.
    public var byteCount: Int { dataOffsets.count }
}
