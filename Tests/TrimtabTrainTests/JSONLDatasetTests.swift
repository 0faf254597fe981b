import XCTest
import TrimtabText
@testable import TrimtabTrain

final class JSONLDatasetTests: XCTestCase {
    func parse(_ text: String, expecting: ExampleShape? = nil) throws -> JSONLDataset {
        try JSONLDataset(data: Data(text.utf8), source: "d.jsonl", expecting: expecting)
    }

    func testEachShape() throws {
        let text = try parse("{\"text\": \"hello\"}\n\n{\"text\": \"world\", \"id\": 3}\n")
        XCTAssertEqual(text.shape, .text)
        XCTAssertEqual(text.examples, [.text("hello"), .text("world")])
        XCTAssertEqual(text.lineNumbers, [1, 3], "blank lines are not examples but keep the numbering")

        let pc = try parse("{\"prompt\": \"2+2=\", \"completion\": \" 4\"}\r\n")
        XCTAssertEqual(pc.examples, [.promptCompletion(prompt: "2+2=", completion: " 4")])

        let chat = try parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}")
        XCTAssertEqual(chat.examples, [.messages([.user("hi"), .assistant("hello")])])

        let cls = try parse("{\"text\": \"good\", \"label\": \"positive\"}\n{\"text\": \"bad\", \"label\": 0}")
        XCTAssertEqual(cls.examples, [.classification(text: "good", label: "positive"), .classification(text: "bad", label: "0")])
        XCTAssertEqual(cls.labels, ["0", "positive"])
    }

    func testMalformedLinesNameFileAndLine() {
        assertDatasetError(try parse("{\"text\": \"a\"}\n{\"text\": \"b\"\n"), contains: ["d.jsonl:2: invalid JSON"])
        assertDatasetError(try parse("{\"text\": \"a\"}\n[1, 2]"), .notAnObject(file: "d.jsonl", line: 2))
        assertDatasetError(try parse("{\"prompt\": \"a\"}"),
                           .missingField(file: "d.jsonl", line: 1, field: "completion", shape: .promptCompletion))
        assertDatasetError(try parse("{\"label\": \"x\"}"),
                           .missingField(file: "d.jsonl", line: 1, field: "text", shape: .classification))
        assertDatasetError(try parse("\n{\"text\": 5}"),
                           .wrongType(file: "d.jsonl", line: 2, field: "text", expected: "a string"))
        assertDatasetError(try parse("{\"text\": \"a\", \"label\": true}"), contains: ["d.jsonl:1", "\"label\" must be"])
        assertDatasetError(try parse("{\"input\": \"a\", \"output\": \"b\"}"),
                           .unknownShape(file: "d.jsonl", line: 1, keys: ["input", "output"]))
        assertDatasetError(try parse("{\"text\": \"a\", \"prompt\": \"b\"}"), contains: ["d.jsonl:1: unknown example shape"])
        assertDatasetError(try parse("{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\", \"label\": \"x\"}"),
                           .mixedShapes(file: "d.jsonl", line: 3, expected: .text, found: .classification))
        assertDatasetError(try parse("{\"text\": \"a\"}", expecting: .classification),
                           .mixedShapes(file: "d.jsonl", line: 1, expected: .classification, found: .text))
        assertDatasetError(try parse("{\"messages\": [{\"role\": \"user\"}]}"),
                           .missingField(file: "d.jsonl", line: 1, field: "messages[0].content", shape: .messages))
        assertDatasetError(try parse("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}"), contains: ["d.jsonl:1", "messages[0].content"])
        assertDatasetError(try parse("{\"messages\": []}"), contains: ["d.jsonl:1", "\"messages\" must be"])
        assertDatasetError(try parse("\n  \n"), .empty(file: "d.jsonl"))
        assertDatasetError(try JSONLDataset(contentsOf: URL(fileURLWithPath: "/nonexistent/x.jsonl")), contains: ["/nonexistent/x.jsonl"])
    }

    func testReadsFiles() throws {
        let dir = try TinySetup.temporaryDirectory()
        let url = dir.appendingPathComponent("train.jsonl")
        try Data("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"y\"}\n".utf8).write(to: url)
        let data = try JSONLDataset(contentsOf: url)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.source, url.path)
    }
}
