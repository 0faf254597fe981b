/// A GGUF tensor's header entry: name, dimensions, ggml type and where its data is.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name (`blk.0.attn_q.weight`).
    public let name: String
    /// Dimensions in ggml order: `dimensions[0]` is the innermost (contiguous) one.
    public let dimensions: [Int]
    /// Storage type.
    public let type: GGMLType
    /// Offset of the data from the start of the file's data section.
    public let offset: Int
    /// Number of elements.
    public let elementCount: Int
    /// Size of the data in bytes.
    public let byteCount: Int

    /// The shape in row-major order, outermost first: ggml's `[ne0, ne1]` (a matrix with
    /// rows of `ne0` elements) is `[ne1, ne0]`, as PyTorch and safetensors write it.
    public var shape: [Int] { dimensions.reversed() }
}
