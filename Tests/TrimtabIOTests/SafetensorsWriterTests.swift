import Foundation
import XCTest
import TrimtabTensor
@testable import TrimtabIO

/// The safetensors writer (round trip, layout, atomic replace) and sharded checkpoints.
///
/// The writer's sample file was also read with the reference implementation: set
/// TRIMTAB_IO_WRITE_SAMPLE=/tmp/sample.safetensors when running this test, then
/// `scripts/reference/io_safetensors.py --check /tmp/sample.safetensors`.
final class SafetensorsWriterTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("trimtab-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The tensors io_safetensors.py --check expects.
    func sample() throws -> [String: Tensor] {
        [
            "a": try Tensor(shape: [3, 4], values: (0 ..< 12).map { Float($0) / 4 }),
            "b": try Tensor(shape: [3], values: [-1.5, 0.25, 3]).converted(to: .bf16),
            "c": try Tensor(shape: [2], values: [1, -2]).converted(to: .f16),
            "z.scalar": Tensor(scalar: 7),
        ]
    }

    let sampleMetadata = ["format": "pt", "quote": "say \"hi\"\n"]

    func testRoundTrip() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        let tensors = try sample()
        try SafetensorsWriter.write(tensors, metadata: sampleMetadata, to: url)
        if let keep = ProcessInfo.processInfo.environment["TRIMTAB_IO_WRITE_SAMPLE"], !keep.isEmpty {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(at: url, to: URL(fileURLWithPath: keep))
        }
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, sampleMetadata)
        XCTAssertEqual(Set(file.tensorNames), Set(tensors.keys))
        for (name, tensor) in tensors {
            let back = try file.tensor(name, as: tensor.dtype)
            XCTAssertEqual(back.shape, tensor.shape, name)
            XCTAssertEqual(back.dtype, tensor.dtype, name)
            XCTAssertEqual(back.scalars, tensor.scalars, name)
        }
        XCTAssertEqual(try file.info("b").dtype, .bf16)
        XCTAssertEqual(try file.info("c").dtype, .f16)
        // Layout as the reference: f32 first (by name), then bf16, then f16; header padded.
        XCTAssertEqual(file.tensorNames, ["a", "z.scalar", "b", "c"])
        XCTAssertEqual(file.dataStart % 8, 0)
        let bytes = try Data(contentsOf: url)
        let header = String(decoding: bytes[8 ..< file.dataStart], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix(#"{"__metadata__":{"format":"pt","quote":"say \"hi\"\n"},"a":{"dtype":"F32","#),
                      header)
        XCTAssertTrue(header.trimmingCharacters(in: .whitespaces).hasSuffix("}"))
    }

    func testWriteReplacesAtomicallyAndLeavesNoTemporaryFiles() throws {
        let url = directory.appendingPathComponent("w.safetensors")
        try SafetensorsWriter.write(["x": Tensor(scalar: 1)], to: url)
        let old = try SafetensorsFile(url: url)
        let oldTensor = try old.tensor("x")
        try SafetensorsWriter.write(["x": Tensor(scalar: 2), "y": Tensor(zeros: [0])], to: url)
        XCTAssertEqual(oldTensor.scalars, [1], "an open mapping keeps the old file's bytes")
        XCTAssertEqual(try SafetensorsFile(url: url).tensor("x").scalars, [2])
        XCTAssertEqual(try SafetensorsFile(url: url).tensor("y").shape, [0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["w.safetensors"])
    }

    func testReservedNamesAndUnwritableTargetsAreErrors() throws {
        let url = directory.appendingPathComponent("bad.safetensors")
        guard case .invalidTensor? = expectCheckpointError("reserved", {
            try SafetensorsWriter.write(["__metadata__": Tensor(scalar: 1)], to: url)
        }) else { return XCTFail() }
        let missingDirectory = directory.appendingPathComponent("no/such/dir/x.safetensors")
        guard case .writeFailed? = expectCheckpointError("missing directory", {
            try SafetensorsWriter.write(["x": Tensor(scalar: 1)], to: missingDirectory)
        }) else { return XCTFail() }
    }

    func testShardedCheckpoint() throws {
        try SafetensorsWriter.write(["a": try Tensor(shape: [2], values: [1, 2])],
                                    to: directory.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write(["b": try Tensor(shape: [1], values: [3]), "unlisted": Tensor(scalar: 0)],
                                    to: directory.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = #"{"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#
        let indexURL = directory.appendingPathComponent(SafetensorsCheckpoint.indexFileName)
        try Data(index.utf8).write(to: indexURL)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.tensorNames, ["a", "b"])
        XCTAssertEqual(checkpoint.files.count, 2)
        XCTAssertEqual(checkpoint.metadata["total_size"], "12")
        XCTAssertEqual(try checkpoint.tensor("a").scalars, [1, 2])
        XCTAssertEqual(try checkpoint.tensor("b").scalars, [3])
        XCTAssertTrue(try checkpoint.file(holding: "b").path.hasSuffix("model-00002-of-00002.safetensors"))
        guard case .missingTensor? = expectCheckpointError("missing", { try checkpoint.tensor("c") }) else { return XCTFail() }

        // An index naming a tensor its shard lacks, or a shard outside the directory.
        let lying = #"{"weight_map":{"a":"model-00002-of-00002.safetensors"}}"#
        try Data(lying.utf8).write(to: indexURL)
        guard case .missingTensor? = expectCheckpointError("lying index", {
            try SafetensorsCheckpoint(directory: directory)
        }) else { return XCTFail() }
        let escaping = #"{"weight_map":{"a":"../model.safetensors"}}"#
        try Data(escaping.utf8).write(to: indexURL)
        guard case .invalidHeader? = expectCheckpointError("escaping index", {
            try SafetensorsCheckpoint(directory: directory)
        }) else { return XCTFail() }
    }

    func testUnindexedDirectories() throws {
        guard case .cannotOpen? = expectCheckpointError("empty", { try SafetensorsCheckpoint(directory: directory) })
        else { return XCTFail() }
        try SafetensorsWriter.write(["a": Tensor(scalar: 1)], to: directory.appendingPathComponent("one.safetensors"))
        try SafetensorsWriter.write(["b": Tensor(scalar: 2)], to: directory.appendingPathComponent("two.safetensors"))
        XCTAssertEqual(try SafetensorsCheckpoint(directory: directory).tensorNames, ["a", "b"])
        try SafetensorsWriter.write(["a": Tensor(scalar: 3)], to: directory.appendingPathComponent("three.safetensors"))
        guard case .duplicateName? = expectCheckpointError("duplicate", { try SafetensorsCheckpoint(directory: directory) })
        else { return XCTFail() }
    }
}
