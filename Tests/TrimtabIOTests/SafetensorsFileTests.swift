import Foundation
import XCTest
import TrimtabTensor
@testable import TrimtabIO

/// The safetensors reader on `Fixtures/tiny.safetensors`, written by the `safetensors`
/// package (scripts/reference/io_safetensors.py), against what that package reads back.
final class SafetensorsFileTests: XCTestCase {
    struct TinyReference: Decodable {
        let metadata: [String: String]
        let tensors: [String: Entry]
    }

    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let values: [Double]
    }

    /// torch dtype names → safetensors names.
    let dtypeNames = ["float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64",
                      "int32": "I32", "uint8": "U8", "bool": "BOOL"]

    func testEveryTensorMatchesTheReference() throws {
        let file = try SafetensorsFile(url: IOFixtures.url("tiny.safetensors"))
        let reference = try IOFixtures.decode(TinyReference.self, "tiny_safetensors.json")
        XCTAssertEqual(file.metadata, reference.metadata)
        XCTAssertEqual(Set(file.tensorNames), Set(reference.tensors.keys))
        for name in file.tensorNames {
            let entry = try XCTUnwrap(reference.tensors[name])
            let info = try file.info(name)
            XCTAssertEqual(info.dtype.rawValue, dtypeNames[entry.dtype], name)
            XCTAssertEqual(info.shape, entry.shape, name)
            let tensor = try file.tensor(name)
            XCTAssertEqual(tensor.shape, entry.shape, name)
            XCTAssertEqual(tensor.dtype, .f32)
            // Every reference value is an exact f32 (or a small integer): compare exactly,
            // except F64, which rounds to the nearest f32.
            XCTAssertEqual(tensor.scalars, entry.values.map { Float($0) }, name)
            if info.dtype.isInteger {
                XCTAssertEqual(try file.integers(name), entry.values.map { Int64($0) }, name)
            }
        }
    }

    func testNamesAreInFileOrderAndDataTilesTheFile() throws {
        let file = try SafetensorsFile(url: IOFixtures.url("tiny.safetensors"))
        let infos = file.tensorInfos
        XCTAssertEqual(infos.first?.dataOffsets.lowerBound, 0)
        for (a, b) in zip(infos, infos.dropFirst()) {
            XCTAssertEqual(a.dataOffsets.upperBound, b.dataOffsets.lowerBound)
        }
        XCTAssertEqual(file.dataStart % 8, 0, "the reference pads the header to 8 bytes")
    }

    func testF32IsBorrowedWithoutCopying() throws {
        let file = try SafetensorsFile(url: IOFixtures.url("tiny.safetensors"))
        let before = MemoryStats.liveBytes
        let tensor = try file.tensor("weight.f32")
        XCTAssertEqual(MemoryStats.liveBytes, before, "f32 data must be borrowed, not copied")
        XCTAssertEqual(tensor.rawPointer, UnsafeMutableRawPointer(mutating: try file.rawBytes("weight.f32").baseAddress))
        let bf16 = try file.tensor("weight.bf16", as: .bf16)
        XCTAssertEqual(bf16.dtype, .bf16)
        XCTAssertEqual(bf16.scalars, try file.tensor("weight.bf16").scalars)
        let f16AsBF16 = try file.tensor("weight.f16", as: .bf16)
        XCTAssertEqual(f16AsBF16.dtype, .bf16)
    }

    func testTensorsKeepTheMappingAlive() throws {
        var file: SafetensorsFile? = try SafetensorsFile(url: IOFixtures.url("tiny.safetensors"))
        let tensor = try XCTUnwrap(file).tensor("weight.f32")
        let values = tensor.scalars
        weak let weakFile = file
        file = nil
        XCTAssertNil(weakFile, "the file object may go; the mapping stays with the tensor")
        XCTAssertEqual(tensor.scalars, values)
    }

    func testMisalignedF32IsCopied() throws {
        // Pad the header so the data starts at an offset ≡ 1 (mod 4).
        var header = Array(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        while (8 + header.count) % 4 != 1 { header.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: Float(-2).bitPattern.littleEndian) { bytes += $0 }
        let file = try SafetensorsFile(bytes: bytes, name: "misaligned")
        XCTAssertEqual(file.dataStart % 4, 1)
        XCTAssertEqual(try file.tensor("x").scalars, [1.5, -2])
    }

    func testHeaderRulesOfTheReference() throws {
        func file(_ json: String, dataBytes: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            let header = Array(json.utf8)
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
            return bytes + header + [UInt8](repeating: 0, count: dataBytes)
        }
        let cases: [(String, Int, String)] = [
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 12, "trailing bytes"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "out of bounds"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "byte count"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, 8, "negative dim"),
            (#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, 8, "unknown dtype"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, "reversed offsets"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, 8, "one offset"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
             8, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap"),
            (#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}"#, 8, "overflow"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e30]}}"#, 8, "huge number"),
            (#"{"a":{"dtype":"F32","shape":[2]}}"#, 8, "missing key"),
            (#"{"__metadata__":{"n":1}}"#, 0, "non-string metadata"),
            (#"{"a":"#, 0, "bad json"),
            (#"["a"]"#, 0, "not an object"),
            (#" {}"#, 0, "does not start with {"),
        ]
        for (json, dataBytes, label) in cases {
            let error = expectCheckpointError(label) { try SafetensorsFile(bytes: file(json, dataBytes: dataBytes), name: label) }
            XCTAssertEqual(error?.path, label)
        }
        XCTAssertEqual(try SafetensorsFile(bytes: file("{}", dataBytes: 0)).tensorNames, [])
        let huge = expectCheckpointError("huge header") {
            try SafetensorsFile(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x7B], name: "h")
        }
        XCTAssertEqual(huge, .headerTooLarge(path: "h", byteCount: 0xFFFF_FFFF, limit: SafetensorsFile.maxHeaderBytes))
    }
}
