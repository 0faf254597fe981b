import XCTest
import TrimtabText
@testable import TrimtabTrain

final class ExampleEncoderTests: XCTestCase {
    let template = "Review: {text}\nSentiment:"

    func sentimentTask() throws -> TaskFormat {
        TaskFormat(kind: .classification, classification: try ClassificationFormat(
            template: template, labels: ["positive", "negative"], labelWords: ["negative": " bad"]))
    }

    func testClassificationTemplateAndLabelWords() throws {
        let tok = try TinySetup.tokenizer()
        let encoder = try ExampleEncoder(tokenizer: tok, task: try sentimentTask(), maxSequenceLength: 64)
        XCTAssertEqual(encoder.labelTokens, [tok.encode(" positive", addSpecialTokens: false), tok.encode(" bad", addSpecialTokens: false)],
                       "default word is the label with a leading space; overrides apply")
        let e = try encoder.encode(.classification(text: "a great movie", label: "positive"))
        let prompt = tok.encode("Review: a great movie\nSentiment:", addSpecialTokens: false)
        XCTAssertEqual(e.ids, prompt + encoder.labelTokens[0])
        XCTAssertEqual(e.lossMask, [UInt8](repeating: 0, count: prompt.count) + [UInt8](repeating: 1, count: encoder.labelTokens[0].count))
        XCTAssertEqual(e.label, 0)
        XCTAssertEqual(e.promptLength, prompt.count)
        XCTAssertFalse(e.truncated)
        XCTAssertEqual(tok.decode(e.ids), "Review: a great movie\nSentiment: positive")

        assertDatasetError(try encoder.encode(.classification(text: "x", label: "neutral"), file: "f.jsonl", line: 4),
                           .unknownLabel(file: "f.jsonl", line: 4, label: "neutral", known: ["positive", "negative"]))
    }

    func testClassificationTruncatesTheTextNeverTheLabel() throws {
        let tok = try TinySetup.tokenizer()
        let encoder = try ExampleEncoder(tokenizer: tok, task: try sentimentTask(), maxSequenceLength: 24)
        let long = String(repeating: "the quick brown fox jumps over the lazy dog ", count: 10)
        for (label, word) in [("positive", " positive"), ("negative", " bad")] {
            let e = try encoder.encode(.classification(text: long, label: label))
            XCTAssertTrue(e.truncated)
            XCTAssertLessThanOrEqual(e.ids.count, 24)
            let text = tok.decode(e.ids)
            XCTAssertTrue(text.hasPrefix("Review: the quick"), text)
            XCTAssertTrue(text.hasSuffix("\nSentiment:" + word), text)
            XCTAssertEqual(tok.decode(e.ids.enumerated().filter { e.lossMask[$0.offset] == 1 }.map(\.element)), word)
        }
        // The input is the same whatever the label (room is left for the longest word).
        let a = try encoder.encode(.classification(text: long, label: "positive"))
        let b = try encoder.encode(.classification(text: long, label: "negative"))
        XCTAssertEqual(a.ids.prefix(a.promptLength!), b.ids.prefix(b.promptLength!))
    }

    func testPromptCompletionLossAndTruncation() throws {
        let tok = try TinySetup.tokenizer()
        let eos = try XCTUnwrap(tok.eosId)
        let encoder = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .promptCompletion), maxSequenceLength: 12)
        let e = try encoder.encode(.promptCompletion(prompt: "What is two plus two?", completion: " four"))
        let p = tok.encode("What is two plus two?", addSpecialTokens: false), c = tok.encode(" four", addSpecialTokens: false) + [eos]
        XCTAssertEqual(e.ids, p + c)
        XCTAssertEqual(e.lossMask, [UInt8](repeating: 0, count: p.count) + [UInt8](repeating: 1, count: c.count))

        let long = try encoder.encode(.promptCompletion(prompt: String(repeating: "the lazy dog ", count: 8) + "What is two plus two?",
                                                        completion: " four"))
        XCTAssertTrue(long.truncated)
        XCTAssertEqual(long.ids.count, 12)
        XCTAssertEqual(Array(long.ids.suffix(c.count)), c, "the completion survives; the prompt loses its start")
        XCTAssertEqual(tok.decode(Array(long.ids.prefix(12 - c.count))).hasSuffix("two plus two?"), true)
    }

    func testTextLossOnEveryTokenAfterTheFirst() throws {
        let tok = try TinySetup.tokenizer()
        let encoder = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .text), maxSequenceLength: 5)
        let e = try encoder.encode(.text("The quick brown fox jumps over the lazy dog."))
        XCTAssertEqual(e.ids, Array(tok.encode("The quick brown fox jumps over the lazy dog.", addSpecialTokens: false).prefix(5)))
        XCTAssertEqual(e.lossMask, [0, 1, 1, 1, 1])
        XCTAssertTrue(e.truncated)
    }

    func testChatLossOnAssistantTurnsOnly() throws {
        let tok = try TinySetup.tokenizer()
        let encoder = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .messages), maxSequenceLength: 256)
        let messages: [ChatMessage] = [.system("be kind"), .user("hello"), .assistant("I am fine"),
                                       .user("how are you"), .assistant("good")]
        let e = try encoder.encode(.messages(messages))
        XCTAssertEqual(tok.decode(e.ids), ChatTemplate.chatML.render(messages, addGenerationPrompt: false))
        let trained = e.ids.enumerated().filter { e.lossMask[$0.offset] == 1 }.map(\.element)
        XCTAssertEqual(tok.decode(trained), "I am fine<|im_end|>good<|im_end|>")

        // Truncation keeps the end; a conversation without an assistant turn has nothing to learn.
        let short = try ExampleEncoder(tokenizer: tok, task: TaskFormat(kind: .messages), maxSequenceLength: 8)
        let cut = try short.encode(.messages(messages))
        XCTAssertEqual(cut.ids.count, 8)
        XCTAssertTrue(tok.decode(cut.ids).hasSuffix("good<|im_end|>\n"))
        assertDatasetError(try encoder.encode(.messages([.user("hello")]), file: "c.jsonl", line: 2),
                           contains: ["c.jsonl:2", "no assistant turn"])
    }

    func testEncodingADatasetNamesTheBadLine() throws {
        let tok = try TinySetup.tokenizer()
        let encoder = try ExampleEncoder(tokenizer: tok, task: try sentimentTask(), maxSequenceLength: 64)
        let data = try JSONLDataset(data: Data("{\"text\":\"a\",\"label\":\"positive\"}\n\n{\"text\":\"b\",\"label\":\"meh\"}\n".utf8),
                                    source: "t.jsonl")
        assertDatasetError(try encoder.encode(data), contains: ["t.jsonl:3", "\"meh\""])

        var noChat = tok
        noChat.chatTemplate = nil
        let chat = try JSONLDataset(data: Data("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}".utf8), source: "c.jsonl")
        assertDatasetError(try ExampleEncoder(tokenizer: noChat, task: TaskFormat(kind: .messages), maxSequenceLength: 64).encode(chat),
                           .missingChatTemplate(file: "c.jsonl"))
    }

    func testLabelWordParsingAndValidation() throws {
        let pairs = try ClassificationFormat.parseLabelWords(#"positive=" positive",negative=" negative""#)
        XCTAssertEqual(pairs.map(\.label), ["positive", "negative"])
        XCTAssertEqual(pairs.map(\.word), [" positive", " negative"])
        let plain = try ClassificationFormat.parseLabelWords(#"a=yes, b = "x\"y\n""#)
        XCTAssertEqual(plain.map(\.label), ["a", "b"])
        XCTAssertEqual(plain.map(\.word), ["yes", "x\"y\n"])
        assertDatasetError(try ClassificationFormat.parseLabelWords("positive"), contains: ["--labels", "label=word"])
        assertDatasetError(try ClassificationFormat.parseLabelWords(#"a="x"#), contains: ["unterminated"])
        assertDatasetError(try ClassificationFormat.parseLabelWords("a=x,a=y"), contains: ["twice"])
        assertDatasetError(try ClassificationFormat(template: "no slot", labels: ["a"]), contains: ["{text}"])
        assertDatasetError(try ClassificationFormat(labels: ["a", "b"], labelWords: ["a": " x", "b": " x"]), contains: ["share"])

        let data = try JSONLDataset(examples: [.classification(text: "t", label: "z"), .classification(text: "u", label: "a")])
        let task = try TaskFormat.infer(from: data, template: template, labelWords: [("b", " bee")])
        XCTAssertEqual(task.classification?.labels, ["b", "a", "z"])
        XCTAssertEqual(task.classification?.labelWords, ["b": " bee", "a": " a", "z": " z"])
    }
}
