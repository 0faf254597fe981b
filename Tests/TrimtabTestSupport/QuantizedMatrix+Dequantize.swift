import TrimtabIO
import TrimtabTensor

extension QuantizedMatrix {
    /// The weights as an f32 `[rows, columns]` tensor, through the GGUF loader's
    /// dequantisation (`Dequantize`, equal to ggml's bit for bit): the reference the block
    /// products are checked against.
    public func dequantized() -> Tensor {
        let type: GGMLType
        switch format {
        case .q4_0: type = .q4_0
        case .q4_1: type = .q4_1
        case .q8_0: type = .q8_0
        }
        let out = Tensor(zeros: [rows, columns])
        Dequantize.run(type, UnsafeRawPointer(storage.base + offset), out.floats, count: rows * columns)
        return out
    }
}
