import Foundation
import XCTest
@testable import TrimtabIO

/// Every dequantisation kernel against `gguf.quants.dequantize` on random blocks
/// (`Fixtures/gguf_quants.json`, from scripts/reference/gguf_quants.py).
final class DequantizeTests: XCTestCase {
    struct QuantFixture: Decodable {
        let generator: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let name: String
        let type: String
        let typeCode: UInt32
        let count: Int
        let bytes: String
        let bits: [UInt32]
    }

    func testEveryTypeMatchesTheGGUFPackageBitForBit() throws {
        let fixture = try IOFixtures.decode(QuantFixture.self, "gguf_quants.json")
        var covered = Set<GGMLType>()
        for c in fixture.cases {
            guard let type = GGMLType(rawValue: c.typeCode) else { XCTFail("\(c.name): unknown type"); continue }
            XCTAssertEqual(type.name, c.type, c.name)
            covered.insert(type)
            let raw = try XCTUnwrap(Data(base64Encoded: c.bytes), c.name)
            XCTAssertEqual(raw.count, type.byteCount(elements: c.count), "\(c.name): byte count")
            var out = [Float](repeating: .nan, count: c.count)
            raw.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Dequantize.run(type, src.baseAddress!, dst.baseAddress!, count: c.count)
                }
            }
            let expected = c.bits.map { Float(bitPattern: $0) }
            var worstULP = 0, mismatches = 0, worstIndex = 0
            for i in 0 ..< c.count where out[i].bitPattern != c.bits[i] {
                mismatches += 1
                let d = ulpDistance(out[i], expected[i])
                if d > worstULP { worstULP = d; worstIndex = i }
            }
            XCTAssertEqual(mismatches, 0, "\(c.name): \(mismatches)/\(c.count) values differ from gguf.quants, worst "
                           + "\(worstULP) ulp at \(worstIndex) (got \(out[worstIndex]), expected \(expected[worstIndex]))")
        }
        let required: Set<GGMLType> = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
                                       .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
        XCTAssertEqual(required.subtracting(covered), [], "types without a reference case")
    }

    func testParallelSplitGivesTheSameResultAsOneChunk() throws {
        // 1024 Q4_K blocks: large enough that Dequantize.run splits the work across threads.
        let type = GGMLType.q4_K
        var rng = SystemRandomNumberGenerator()
        var bytes = (0 ..< 1024 * type.typeSize).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        for b in 0 ..< 1024 { // sane f16 scales d = 0.01, dmin = 0.005
            bytes[b * type.typeSize] = 0x1F; bytes[b * type.typeSize + 1] = 0x21
            bytes[b * type.typeSize + 2] = 0x1F; bytes[b * type.typeSize + 3] = 0x1D
        }
        let count = 1024 * 256
        var parallel = [Float](repeating: 0, count: count), serial = parallel
        bytes.withUnsafeBytes { src in
            parallel.withUnsafeMutableBufferPointer { Dequantize.run(type, src.baseAddress!, $0.baseAddress!, count: count) }
            serial.withUnsafeMutableBufferPointer { Dequantize.q4_K(src.baseAddress!, $0.baseAddress!, 0 ..< 1024) }
        }
        XCTAssertEqual(parallel, serial)
    }

    func testBlockGeometryMatchesGGML() {
        // Sizes from ggml's block structs (GGML_QUANT_SIZES in the gguf package).
        let expected: [GGMLType: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22),
            .q5_1: (32, 24), .q8_0: (32, 34), .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144),
            .q5_K: (256, 176), .q6_K: (256, 210), .q8_K: (256, 292), .iq4_XS: (256, 136), .iq1_M: (256, 56),
        ]
        for (type, (block, size)) in expected {
            XCTAssertEqual(type.blockSize, block, type.name)
            XCTAssertEqual(type.typeSize, size, type.name)
        }
        XCTAssertNil(GGMLType.q4_0.byteCount(elements: 33))
        XCTAssertNil(GGMLType.f32.byteCount(elements: Int.max))
        XCTAssertEqual(GGMLType.q6_K.byteCount(elements: 512), 420)
    }
}
