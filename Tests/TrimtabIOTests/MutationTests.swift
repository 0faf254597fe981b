import Foundation
import XCTest
import TrimtabTensor
@testable import TrimtabIO

/// Damaged and hostile variants of the small fixture files: truncated at many points,
/// random bit flips, and every length, count, type code, dimension and offset set to
/// huge, negative or off-by-one values. Each variant must either load consistently
/// (every tensor it lists is readable, in bounds, with the promised element count) or
/// throw a ``CheckpointError`` — never crash, never allocate more than a small multiple
/// of the file's own size.
final class MutationTests: XCTestCase {
    /// Tensor storage allowed per byte of input: the most elements a byte can decode to
    /// (Q1_0: 128 per 18 bytes) times 4 bytes per f32, with room to spare.
    let allocationFactor = 64

    // MARK: - GGUF

    func testGGUFMutants() throws {
        let original = try IOFixtures.tinyGGUFBytes()
        var mutants: [(String, [UInt8])] = []
        let fields = Self.ggufFields(original)
        XCTAssertGreaterThan(fields.count, 100, "the walker should find every header field")
        let headerEnd = fields.map { $0.offset + $0.width }.max() ?? original.count

        for field in fields {
            let current = Self.read(original, field.offset, field.width)
            let candidates: [UInt64] = field.width == 8
                ? [0, 1, current &+ 1, current &- 1, current << 20, UInt64(original.count), 1 << 32, 1 << 40,
                   UInt64(Int64.max), 1 << 63, UInt64.max]
                : [0, 1, current &+ 1, 5, 13, 64, 0x8000_0000, 0xFFFF_FFFF]
            for value in candidates where value != current {
                var bytes = original
                Self.write(&bytes, field.offset, field.width, value)
                mutants.append(("\(field.label) @\(field.offset) = \(value)", bytes))
            }
        }
        mutants += Self.truncations(original, headerEnd: headerEnd) + Self.bitFlips(original, headerEnd: headerEnd, seed: 1)

        var loaded = 0
        for (label, bytes) in mutants {
            if checkGGUF(bytes, label) { loaded += 1 }
        }
        print("GGUF mutants: \(mutants.count), loaded: \(loaded)")
        // Sanity: the harness is not vacuous in either direction.
        XCTAssertGreaterThan(mutants.count, 500)
        XCTAssertGreaterThan(loaded, 0, "some harmless mutants should still load")
        XCTAssertLessThan(loaded, mutants.count / 2, "most mutants should be rejected")
    }

    /// Loads one mutant; returns whether it loaded. Fails the test on any non-typed outcome.
    private func checkGGUF(_ bytes: [UInt8], _ label: String) -> Bool {
        let live = MemoryStats.liveBytes
        MemoryStats.resetPeak()
        defer {
            let used = MemoryStats.peakBytes - live
            XCTAssertLessThanOrEqual(used, allocationFactor * bytes.count + 4096, "\(label): allocated \(used) bytes")
        }
        let file: GGUFFile
        do {
            file = try GGUFFile(bytes: bytes, name: label)
        } catch let error as CheckpointError {
            XCTAssertEqual(error.path, label)
            XCTAssertTrue(error.description.hasPrefix(label), "\(label): \(error)")
            return false
        } catch {
            XCTFail("\(label): untyped error \(error)")
            return false
        }
        for info in file.tensorInfos {
            XCTAssertEqual(info.type.byteCount(elements: info.elementCount), info.byteCount, label)
            XCTAssertLessThanOrEqual(file.dataOffset + info.offset + info.byteCount, bytes.count, label)
            do {
                let tensor = try file.tensor(info.name)
                XCTAssertEqual(tensor.count, info.elementCount, "\(label): \(info.name)")
                XCTAssertEqual(tensor.shape, info.shape, "\(label): \(info.name)")
            } catch let error as CheckpointError {
                XCTAssertEqual(error, .unsupportedQuantization(path: label, tensor: info.name, type: info.type.name),
                               label)
            } catch {
                XCTFail("\(label): untyped error \(error)")
            }
        }
        for (_, value) in file.metadata { _ = value.description }
        return true
    }

    // MARK: - safetensors

    func testSafetensorsMutants() throws {
        let original = try IOFixtures.bytes("tiny.safetensors")
        let headerLength = Int(Self.read(original, 0, 8))
        let header = Array(original[8 ..< 8 + headerLength])
        let data = Array(original[(8 + headerLength)...])
        var mutants: [(String, [UInt8])] = []

        for value: UInt64 in [0, 1, 2, 7, UInt64(headerLength - 1), UInt64(headerLength + 1),
                              UInt64(original.count - 8), UInt64(original.count - 7), 100_000_000, 100_000_001,
                              1 << 32, 1 << 63, UInt64.max] {
            var bytes = original
            Self.write(&bytes, 0, 8, value)
            mutants.append(("header length = \(value)", bytes))
        }

        // Every number in the JSON replaced by hostile tokens, with the length field
        // updated (a well-formed file that lies) and, for a few, left stale.
        let text = String(decoding: header, as: UTF8.self)
        let numbers = try NSRegularExpression(pattern: "-?[0-9]+").matches(in: text, range: NSRange(text.startIndex..., in: text))
        for (n, match) in numbers.enumerated() {
            let range = Range(match.range, in: text)!
            let value = Int(text[range]) ?? 0
            let tokens = ["-1", "0", "\(value + 1)", "\(value - 1)", "4294967296", "9223372036854775807",
                          "9223372036854775808", "18446744073709551616", "1e30", "1.5", "null", "\"7\""]
            for token in tokens where token != String(text[range]) {
                let json = text.replacingCharacters(in: range, with: token)
                mutants.append(("number \(n) = \(token)", Self.safetensors(Array(json.utf8), data)))
                if n % 7 == 0 {
                    var stale = Self.safetensors(Array(json.utf8), data)
                    Self.write(&stale, 0, 8, UInt64(headerLength))
                    mutants.append(("number \(n) = \(token), stale length", stale))
                }
            }
        }
        // Every dtype replaced by others (sizes change: byte counts must be rechecked).
        for dtype in ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "I32"] {
            for other in ["F64", "U8", "F8_E4M3", "F4", "XX", ""] where other != dtype {
                let json = text.replacingOccurrences(of: "\"dtype\":\"\(dtype)\"", with: "\"dtype\":\"\(other)\"")
                if json != text { mutants.append(("dtype \(dtype) -> \(other)", Self.safetensors(Array(json.utf8), data))) }
            }
        }
        mutants += Self.truncations(original, headerEnd: 8 + headerLength)
            + Self.bitFlips(original, headerEnd: 8 + headerLength, seed: 2)

        var loaded = 0
        for (label, bytes) in mutants {
            if checkSafetensors(bytes, label) { loaded += 1 }
        }
        print("safetensors mutants: \(mutants.count), loaded: \(loaded)")
        XCTAssertGreaterThan(mutants.count, 300)
        XCTAssertGreaterThan(loaded, 0)
        XCTAssertLessThan(loaded, mutants.count / 2)
    }

    private func checkSafetensors(_ bytes: [UInt8], _ label: String) -> Bool {
        let live = MemoryStats.liveBytes
        MemoryStats.resetPeak()
        defer {
            let used = MemoryStats.peakBytes - live
            XCTAssertLessThanOrEqual(used, allocationFactor * bytes.count + 4096, "\(label): allocated \(used) bytes")
        }
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(bytes: bytes, name: label)
        } catch let error as CheckpointError {
            XCTAssertEqual(error.path, label)
            return false
        } catch {
            XCTFail("\(label): untyped error \(error)")
            return false
        }
        for info in file.tensorInfos {
            XCTAssertLessThanOrEqual(file.dataStart + info.dataOffsets.upperBound, bytes.count, label)
            XCTAssertEqual(info.elementCount * info.dtype.byteSize, info.byteCount, label)
            do {
                let tensor = try file.tensor(info.name)
                XCTAssertEqual(tensor.count, info.elementCount, "\(label): \(info.name)")
                if info.dtype.isInteger { XCTAssertEqual(try file.integers(info.name).count, info.elementCount) }
            } catch {
                XCTFail("\(label): a loaded file must yield its tensors: \(error)")
            }
        }
        return true
    }

    // MARK: - Mutation helpers

    static func truncations(_ bytes: [UInt8], headerEnd: Int) -> [(String, [UInt8])] {
        var points = Set(0 ..< min(64, bytes.count))
        points.formUnion(stride(from: 64, to: min(headerEnd + 8, bytes.count), by: 5))
        points.formUnion(stride(from: headerEnd, to: bytes.count, by: max(1, (bytes.count - headerEnd) / 24)))
        return points.sorted().map { ("truncated at \($0)", Array(bytes.prefix($0))) }
    }

    static func bitFlips(_ bytes: [UInt8], headerEnd: Int, seed: UInt64) -> [(String, [UInt8])] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< 200).map { i in
            var out = bytes
            let flips = i % 4 == 3 ? 4 : 1
            var where_: [Int] = []
            for _ in 0 ..< flips {
                let position = Int(rng.next() % UInt64(min(headerEnd, bytes.count)))
                out[position] ^= 1 << UInt8(rng.next() % 8)
                where_.append(position)
            }
            return ("bit flips at \(where_)", out)
        }
    }

    static func safetensors(_ header: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        return bytes + header + data
    }

    static func read(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        (0 ..< width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    static func write(_ bytes: inout [UInt8], _ offset: Int, _ width: Int, _ value: UInt64) {
        for i in 0 ..< width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Every length, count, type code, dimension and offset field of a valid GGUF header,
    /// found by walking the format independently of the reader under test.
    static func ggufFields(_ b: [UInt8]) -> [(offset: Int, width: Int, label: String)] {
        var fields: [(offset: Int, width: Int, label: String)] = []
        var p = 0
        func field(_ width: Int, _ label: String) -> UInt64 {
            fields.append((p, width, label))
            defer { p += width }
            return read(b, p, width)
        }
        func value(_ type: UInt64, _ key: String) {
            switch type {
            case 0, 1, 7: p += 1
            case 2, 3: p += 2
            case 4, 5, 6: p += 4
            case 10, 11, 12: p += 8
            case 8: p += Int(field(8, "string length of \(key)"))
            case 9:
                let elementType = field(4, "array type of \(key)")
                let n = field(8, "array count of \(key)")
                for _ in 0 ..< n { value(elementType, key) }
            default: fatalError("unexpected type \(type)")
            }
        }
        p = 4
        _ = field(4, "version")
        let tensors = field(8, "tensor count")
        let kvs = field(8, "kv count")
        for _ in 0 ..< kvs {
            let length = Int(field(8, "key length"))
            let key = String(decoding: b[p ..< p + length], as: UTF8.self)
            p += length
            value(field(4, "type of \(key)"), key)
        }
        for _ in 0 ..< tensors {
            let length = Int(field(8, "tensor name length"))
            let name = String(decoding: b[p ..< p + length], as: UTF8.self)
            p += length
            let rank = field(4, "rank of \(name)")
            for d in 0 ..< rank { _ = field(8, "dim \(d) of \(name)") }
            _ = field(4, "type of \(name)")
            _ = field(8, "offset of \(name)")
        }
        return fields
    }
}
