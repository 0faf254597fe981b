/// Tensor element types of GGUF files (ggml's `ggml_type`), with their block geometry.
///
/// Every type a current GGUF file can contain is listed, so any file's tensor sizes can
/// be checked; ``isDequantizable`` says which ones ``Dequantize`` can turn into f32.
/// Codes 4, 5 and 31–33, 36–38 belong to removed types and are rejected like any
/// unknown code.
public enum GGMLType: UInt32, CaseIterable, Sendable, Codable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq2_XXS = 16
    case iq2_XS = 17
    case iq3_XXS = 18
    case iq1_S = 19
    case iq4_NL = 20
    case iq3_S = 21
    case iq2_S = 22
    case iq4_XS = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case iq1_M = 29
    case bf16 = 30
    case tq1_0 = 34
    case tq2_0 = 35
    case mxfp4 = 39
    case nvfp4 = 40
    case q1_0 = 41

    /// Elements per block (`QK_K` = 256 for the k-quants).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        case .nvfp4: return 64
        case .q1_0: return 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq3_S, .iq2_S,
             .iq4_XS, .iq1_M, .tq1_0, .tq2_0:
            return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        let qk = 256
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q5_0: return 2 + 4 + 16
        case .q5_1: return 2 + 2 + 4 + 16
        case .q8_0: return 2 + 32
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 2 + 2 + qk / 16 + qk / 4
        case .q3_K: return 2 + qk / 4 + qk / 8 + 12
        case .q4_K: return 2 + 2 + qk / 2 + 12
        case .q5_K: return 2 + 2 + qk / 2 + qk / 8 + 12
        case .q6_K: return 2 + qk / 2 + qk / 4 + qk / 16
        case .q8_K: return 4 + qk + qk / 8
        case .iq2_XXS: return 2 + qk / 4
        case .iq2_XS: return 2 + qk / 4 + qk / 32
        case .iq3_XXS: return 2 + qk / 4 + qk / 8
        case .iq1_S: return 2 + qk / 8 + qk / 16
        case .iq4_NL: return 2 + 16
        case .iq3_S: return 2 + qk / 4 + qk / 8 + qk / 32 + 4
        case .iq2_S: return 2 + qk / 4 + qk / 16
        case .iq4_XS: return 2 + 2 + qk / 2 + qk / 64
        case .iq1_M: return qk / 8 + qk / 16 + qk / 32
        case .tq1_0: return 2 + 4 * 13
        case .tq2_0: return 2 + 64
        case .mxfp4: return 1 + 16
        case .nvfp4: return 4 + 32
        case .q1_0: return 2 + 16
        }
    }

    /// The name ggml and llama.cpp print (`Q4_K`, `IQ2_XXS`, `F32`, …).
    public var name: String { "\(self)".uppercased() }

    /// Whether ``Dequantize`` supports this type.
    public var isDequantizable: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
             .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
            return true
        default:
            return false
        }
    }

    /// Bytes taken by `elements` elements (a whole number of blocks), or nil if
    /// `elements` is not a multiple of ``blockSize`` or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }
}
