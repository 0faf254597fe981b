import Foundation
import XCTest
@testable import TrimtabText

/// Chat formats render what transformers' `apply_chat_template` renders with the models'
/// own Jinja templates (SmolLM2's from its GGUF, Llama 3 Instruct's).
final class ChatTemplateTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let template: String
            let messages: [ChatMessage]
            let addGenerationPrompt: Bool
            let rendered: String
        }
        let templates: [String: String]
        let cases: [Case]
    }

    func testRenderingMatchesTransformers() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: TextFixtures.data("chat.json"))
        var templates: [String: ChatTemplate] = [:]
        for (name, jinja) in fixture.templates {
            templates[name] = try XCTUnwrap(ChatTemplate.detect(fromTemplate: jinja), "no format detected for \(name)")
        }
        XCTAssertEqual(templates["smollm2"], .chatML(defaultSystemMessage: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        XCTAssertEqual(templates["llama3"], .llama3)
        XCTAssertEqual(fixture.cases.count, 16)
        for c in fixture.cases {
            let rendered = try XCTUnwrap(templates[c.template]).render(c.messages, addGenerationPrompt: c.addGenerationPrompt)
            XCTAssertTrue(rendered.utf8.elementsEqual(c.rendered.utf8),
                          "\(c.template), generation prompt \(c.addGenerationPrompt):\n\(rendered.debugDescription)\n!=\n\(c.rendered.debugDescription)")
        }
    }

    func testRenderedSmolLM2PromptTokenizes() throws {
        let tokenizer = try Tokenizer(gguf: TextFixtures.smolLM2Metadata())
        let template = try XCTUnwrap(tokenizer.chatTemplate)
        let prompt = template.render([.user("Hi")], addGenerationPrompt: true)
        let ids = tokenizer.encode(prompt, addSpecialTokens: true)
        XCTAssertEqual(ids.first, tokenizer.tokenToId("<|im_start|>"))
        XCTAssertEqual(ids.filter { $0 == tokenizer.tokenToId("<|im_end|>") }.count, 2)
        XCTAssertEqual(tokenizer.tokenToId(template.endOfTurn), 2)
    }

    func testDetection() {
        XCTAssertNil(ChatTemplate.detect(fromTemplate: "{{ messages }}"))
        let qwenLike = "{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
        XCTAssertEqual(ChatTemplate.detect(fromTemplate: qwenLike), .chatML(defaultSystemMessage: "You are Qwen."))
        let plain = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}"
        XCTAssertEqual(ChatTemplate.detect(fromTemplate: plain), .chatML)
    }
}
