import Foundation
import XCTest
import TrimtabTensor
@testable import TrimtabIO

/// The GGUF reader on the tiny GGUF file written by the `gguf` package
/// (scripts/reference/gguf_quants.py), against what `gguf.GGUFReader` reads back.
final class GGUFFileTests: XCTestCase {
    struct TinyReference: Decodable {
        let version: UInt32
        let alignment: Int
        let dataOffset: Int
        let tensors: [String: TensorEntry]
    }

    struct TensorEntry: Decodable {
        let type: String
        let dims: [Int]
        let offset: Int
        let bits: [UInt32]?
    }

    func testHeaderAndEveryMetadataType() throws {
        let file = try GGUFFile(url: IOFixtures.tinyGGUFURL())
        let reference = try IOFixtures.decode(TinyReference.self, "tiny_gguf.json")
        XCTAssertEqual(file.version, reference.version)
        XCTAssertEqual(file.alignment, reference.alignment)
        XCTAssertEqual(file.dataOffset, reference.dataOffset)
        XCTAssertEqual(file.architecture, "tinyllama")
        XCTAssertEqual(file.metadataKeys.first, "general.architecture")

        let m = file.metadata
        XCTAssertEqual(m["general.name"], .string("tiny test model"))
        XCTAssertEqual(m["tinyllama.block_count"], .uint32(2))
        XCTAssertEqual(try file.int("tinyllama.embedding_length"), 64)
        XCTAssertEqual(m["test.u8"], .uint8(200))
        XCTAssertEqual(m["test.i8"], .int8(-7))
        XCTAssertEqual(m["test.u16"], .uint16(60000))
        XCTAssertEqual(m["test.i16"], .int16(-30000))
        XCTAssertEqual(m["test.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(m["test.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(m["test.f32"], .float32(1.5))
        XCTAssertEqual(m["test.u64"], .uint64(1 << 63 + 5))
        XCTAssertNil(m["test.u64"]?.int, "u64 above Int.max has no Int value")
        XCTAssertEqual(m["test.i64"], .int64(-(1 << 40)))
        XCTAssertEqual(m["test.f64"], .float64(0.1))
        XCTAssertEqual(m["test.bool"], .bool(true))
        XCTAssertEqual(try file.string("test.string"), "héllo wörld")
        XCTAssertEqual(m["test.ints"]?.ints, [1, -2, 3])
        XCTAssertEqual(m["test.strings"]?.strings, ["a", "bc", ""])
        XCTAssertEqual(m["test.floats"]?.floats, [0.5, 0.25])
        XCTAssertEqual(m["test.nested"], .array(.array, [.array(.int32, [.int32(1), .int32(2)]),
                                                         .array(.int32, [.int32(3)])]))
        XCTAssertEqual(m["test.f32"]?.double, 1.5)
        XCTAssertEqual(m["test.i8"]?.float, -7)

        XCTAssertEqual(expectCheckpointError("missing key") { try file.int("nope") },
                       .missingMetadata(path: file.path, key: "nope"))
        XCTAssertEqual(expectCheckpointError("wrong type") { try file.int("test.string") },
                       .wrongValueType(path: file.path, key: "test.string", expected: "an integer", got: "string"))
    }

    func testTensorsMatchTheGGUFPackage() throws {
        let file = try GGUFFile(url: IOFixtures.tinyGGUFURL())
        let reference = try IOFixtures.decode(TinyReference.self, "tiny_gguf.json")
        XCTAssertEqual(Set(file.tensorNames), Set(reference.tensors.keys))
        for info in file.tensorInfos {
            let entry = try XCTUnwrap(reference.tensors[info.name])
            XCTAssertEqual(info.type.name, entry.type, info.name)
            XCTAssertEqual(info.dimensions, entry.dims, info.name)
            XCTAssertEqual(file.dataOffset + info.offset, entry.offset, info.name)
            XCTAssertEqual(try file.rawBytes(info.name).count, info.byteCount, info.name)
            guard let bits = entry.bits else { continue }
            let tensor = try file.tensor(info.name)
            XCTAssertEqual(tensor.shape, Array(entry.dims.reversed()), info.name)
            XCTAssertEqual(tensor.scalars.map(\.bitPattern), bits, "\(info.name) differs from gguf.quants.dequantize")
        }
    }

    func testF32IsBorrowedAndHalvesCanStayHalves() throws {
        let file = try GGUFFile(url: IOFixtures.tinyGGUFURL())
        let before = MemoryStats.liveBytes
        let f32 = try file.tensor("tensor.f32")
        XCTAssertEqual(MemoryStats.liveBytes, before, "an f32 tensor must borrow the mapping, not copy")
        XCTAssertEqual(f32.storage.base, UnsafeMutableRawPointer(mutating: try file.rawBytes("tensor.f32").baseAddress))

        let f16 = try file.tensor("tensor.f16", as: .f16)
        XCTAssertEqual(f16.dtype, .f16)
        XCTAssertEqual(f16.scalars, try file.tensor("tensor.f16").scalars)
        let bf16 = try file.tensor("tensor.q8_0", as: .bf16)
        XCTAssertEqual(bf16.dtype, .bf16)
        XCTAssertEqual(bf16.count, 128)

        let raw = try file.rawStorage("tensor.q4_k")
        XCTAssertEqual(raw.byteCount, 144)
    }

    func testUnsupportedTypeAndMissingTensorAreTypedErrors() throws {
        let file = try GGUFFile(url: IOFixtures.tinyGGUFURL())
        let error = expectCheckpointError("IQ4_NL") { try file.tensor("tensor.iq4_nl") }
        XCTAssertEqual(error, .unsupportedQuantization(path: file.path, tensor: "tensor.iq4_nl", type: "IQ4_NL"))
        XCTAssertTrue(error?.description.contains("IQ4_NL") ?? false)
        XCTAssertEqual(try file.rawBytes("tensor.iq4_nl").count, 18, "raw bytes stay available")
        XCTAssertEqual(expectCheckpointError("missing") { try file.tensor("nope") },
                       .missingTensor(path: file.path, name: "nope"))
    }

    func testVersionsAndMagic() throws {
        let bytes = try IOFixtures.tinyGGUFBytes()
        func with(version: UInt32) -> [UInt8] {
            var out = bytes
            withUnsafeBytes(of: version.littleEndian) { out.replaceSubrange(4 ..< 8, with: $0) }
            return out
        }
        // v2 has the same little-endian layout as v3.
        let v2 = try GGUFFile(bytes: with(version: 2), name: "v2")
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(try v2.tensor("tensor.q8_0").scalars, try GGUFFile(bytes: bytes).tensor("tensor.q8_0").scalars)
        for version: UInt32 in [0, 1, 4, 0x0300_0000] {
            let error = expectCheckpointError("version \(version)") { try GGUFFile(bytes: with(version: version), name: "v") }
            guard case .unsupportedVersion(_, let got, _)? = error else {
                XCTFail("version \(version): \(String(describing: error))"); continue
            }
            XCTAssertEqual(got, version)
        }
        var wrong = bytes
        wrong[0] = UInt8(ascii: "X")
        guard case .badMagic? = expectCheckpointError("magic", { try GGUFFile(bytes: wrong, name: "m") }) else {
            return XCTFail("bad magic not reported")
        }
        let empty = expectCheckpointError("empty") { try GGUFFile(bytes: [], name: "empty") }
        guard case .truncated? = empty else { return XCTFail("empty file: \(String(describing: empty))") }
    }

    func testAlignmentKeyIsValidated() throws {
        // A hand-built file: one key, general.alignment, then no tensors.
        func file(alignmentType: UInt32, value: [UInt8]) -> [UInt8] {
            var b = Array("GGUF".utf8)
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
            func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
            u32(3); u64(0); u64(1)
            let key = Array("general.alignment".utf8)
            u64(UInt64(key.count)); b += key
            u32(alignmentType); b += value
            return b
        }
        XCTAssertEqual(try GGUFFile(bytes: file(alignmentType: 4, value: [64, 0, 0, 0])).alignment, 64)
        let notPowerOfTwo = expectCheckpointError("48") { try GGUFFile(bytes: file(alignmentType: 4, value: [48, 0, 0, 0])) }
        guard case .invalidHeader? = notPowerOfTwo else { return XCTFail("\(String(describing: notPowerOfTwo))") }
        let zero = expectCheckpointError("0") { try GGUFFile(bytes: file(alignmentType: 4, value: [0, 0, 0, 0])) }
        guard case .invalidHeader? = zero else { return XCTFail("\(String(describing: zero))") }
        let wrongType = expectCheckpointError("u8") { try GGUFFile(bytes: file(alignmentType: 0, value: [32])) }
        guard case .wrongValueType? = wrongType else { return XCTFail("\(String(describing: wrongType))") }
    }
}
