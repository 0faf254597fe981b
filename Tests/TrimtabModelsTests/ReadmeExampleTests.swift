import TrimtabTestSupport
import XCTest
import TrimtabModels
import TrimtabTensor

/// The README's "Use from Swift" example, verbatim, so the front page never lies.
final class ReadmeExampleTests: XCTestCase {
    func testGenerationExample() throws {
        try TestAssets.requireFile(TestAssets.smolLM2)
        let loaded = try SmolLM2ReferenceTests.loaded.get()
        let ids = loaded.tokenizer.encode("The capital of France is", addSpecialTokens: false)
        let result = Generator(model: loaded.model).generate(prompt: ids, maxTokens: 8)
        XCTAssertTrue(loaded.tokenizer.decode(result.tokens, skipSpecialTokens: true).hasPrefix(" Paris."))
    }

    func testTapeExample() throws {
        let tape = Tape()
        let x = Variable(try Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), requiresGrad: true)
        let w = Variable(try Tensor(shape: [4, 3], values: Array(repeating: 0.1, count: 12)))
        let loss = tape.crossEntropy(tape.linear(x, w), targets: [0, 3])
        tape.backward(from: loss)
        XCTAssertNotNil(x.grad)
        XCTAssertNil(w.grad)
        // All logits are equal (every row of W is the same), so the loss is log 4.
        XCTAssertEqual(loss.value.floats[0], log(4), accuracy: 1e-6)
    }
}
