/// Errors raised while reading or writing checkpoint files (safetensors, GGUF).
///
/// Every case names the file and says what is wrong with it; ``description`` adds what
/// to do next where there is something sensible to do. Files are untrusted input: any
/// malformed file ends in one of these errors, never in a crash or a huge allocation.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// The file or directory could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file ends before a structure that should be there.
    case truncated(path: String, what: String, offset: Int, needed: Int, fileSize: Int)
    /// The file does not start with the format's magic bytes.
    case badMagic(path: String, expected: String, found: String)
    /// The format version is not one this reader understands.
    case unsupportedVersion(path: String, version: UInt32, supported: String)
    /// A length field claims a header larger than the limit (or than the file).
    case headerTooLarge(path: String, byteCount: UInt64, limit: Int)
    /// The JSON header (safetensors, index, config) does not parse or has the wrong shape.
    case badJSON(path: String, reason: String)
    /// The header parses but breaks a rule of the format.
    case invalidHeader(path: String, reason: String)
    /// A tensor's element type is unknown or not supported.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's shape is invalid (negative, too many dimensions, overflowing, not a
    /// multiple of the block size).
    case invalidShape(path: String, tensor: String, shape: [Int64], reason: String)
    /// A tensor's bytes lie (partly) outside the file.
    case tensorOutOfBounds(path: String, tensor: String, begin: UInt64, end: UInt64, available: Int)
    /// Two tensors share bytes.
    case overlappingTensors(path: String, first: String, second: String)
    /// A tensor's data does not start at the alignment the format requires.
    case misaligned(path: String, tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's byte range does not match its shape and element type.
    case byteCountMismatch(path: String, tensor: String, shape: [Int], dtype: String, expected: Int, got: Int)
    /// A tensor that was asked for (or listed in an index) is not in the file.
    case missingTensor(path: String, name: String)
    /// A metadata key that a reader requires is absent.
    case missingMetadata(path: String, key: String)
    /// A tensor name or metadata key appears twice.
    case duplicateName(path: String, name: String)
    /// A string, array, key or name is longer than the format (or the file) allows.
    case valueTooLong(path: String, what: String, length: UInt64, limit: Int)
    /// A metadata value has a type code outside the format.
    case invalidValueType(path: String, key: String, type: UInt32)
    /// A metadata value has a valid type, but not the one its key requires.
    case wrongValueType(path: String, key: String, expected: String, got: String)
    /// The tensor's quantisation type cannot be dequantised by this reader.
    case unsupportedQuantization(path: String, tensor: String, type: String)
    /// A tensor handed to a writer cannot be written.
    case invalidTensor(path: String, name: String, reason: String)
    /// Writing the file failed.
    case writeFailed(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case let .cannotOpen(path, _), let .truncated(path, _, _, _, _), let .badMagic(path, _, _),
             let .unsupportedVersion(path, _, _), let .headerTooLarge(path, _, _), let .badJSON(path, _),
             let .invalidHeader(path, _), let .unsupportedDType(path, _, _), let .invalidShape(path, _, _, _),
             let .tensorOutOfBounds(path, _, _, _, _), let .overlappingTensors(path, _, _),
             let .misaligned(path, _, _, _), let .byteCountMismatch(path, _, _, _, _, _),
             let .missingTensor(path, _), let .missingMetadata(path, _), let .duplicateName(path, _), let .valueTooLong(path, _, _, _),
             let .invalidValueType(path, _, _), let .wrongValueType(path, _, _, _),
             let .unsupportedQuantization(path, _, _), let .invalidTensor(path, _, _),
             let .writeFailed(path, _):
            return path
        }
    }

    public var description: String {
        let damaged = "the file is damaged or incomplete; download or export it again"
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .truncated(path, what, offset, needed, fileSize):
            return "\(path): truncated: \(what) needs \(needed) bytes at offset \(offset), "
                + "but the file has \(fileSize) bytes; an interrupted download? Download it again"
        case let .badMagic(path, expected, found):
            return "\(path): not a \(expected) file (starts with \(found)); check the path and the file type"
        case let .unsupportedVersion(path, version, supported):
            return "\(path): format version \(version) is not supported (supported: \(supported)); "
                + "convert the file with a current exporter"
        case let .headerTooLarge(path, byteCount, limit):
            return "\(path): header claims \(byteCount) bytes, more than the limit of \(limit); "
                + "not a checkpoint of this format, or \(damaged)"
        case let .badJSON(path, reason):
            return "\(path): bad JSON header: \(reason)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid header: \(reason); \(damaged)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has element type \(dtype), which is not supported; "
                + "convert the checkpoint to F32, F16 or BF16"
        case let .invalidShape(path, tensor, shape, reason):
            return "\(path): tensor '\(tensor)' has invalid shape \(shape): \(reason); \(damaged)"
        case let .tensorOutOfBounds(path, tensor, begin, end, available):
            return "\(path): tensor '\(tensor)' spans bytes \(begin)..<\(end), but only \(available) "
                + "are available; \(damaged)"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors '\(first)' and '\(second)' overlap; \(damaged)"
        case let .misaligned(path, tensor, offset, alignment):
            return "\(path): tensor '\(tensor)' starts at offset \(offset), not a multiple of \(alignment); \(damaged)"
        case let .byteCountMismatch(path, tensor, shape, dtype, expected, got):
            return "\(path): tensor '\(tensor)' (\(dtype) \(shape)) needs \(expected) bytes but has \(got); \(damaged)"
        case let .missingTensor(path, name):
            return "\(path): no tensor named '\(name)'; run `trimtab inspect \(path)` to list the tensors"
        case let .missingMetadata(path, key):
            return "\(path): metadata key '\(key)' is missing; run `trimtab inspect \(path)` to see what the file has"
        case let .duplicateName(path, name):
            return "\(path): '\(name)' appears more than once; \(damaged)"
        case let .valueTooLong(path, what, length, limit):
            return "\(path): \(what) claims length \(length), more than the limit of \(limit); \(damaged)"
        case let .invalidValueType(path, key, type):
            return "\(path): metadata '\(key)' has unknown value type \(type); \(damaged)"
        case let .wrongValueType(path, key, expected, got):
            return "\(path): metadata '\(key)' should be \(expected) but is \(got)"
        case let .unsupportedQuantization(path, tensor, type):
            return "\(path): tensor '\(tensor)' is quantised as \(type), which cannot be dequantised yet; "
                + "use a file quantised as Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q6_K, F16, BF16 or F32"
        case let .invalidTensor(path, name, reason):
            return "\(path): cannot write tensor '\(name)': \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason); check free disk space and permissions"
        }
    }
}
