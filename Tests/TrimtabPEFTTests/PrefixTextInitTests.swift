import TrimtabModels
import TrimtabTensor
import TrimtabTestSupport
import XCTest
@testable import TrimtabPEFT

/// Prefix tuning initialised from text holds the model's own keys and values for the
/// text, so before training the adapted model reads every input as if the text came
/// first.
final class PrefixTextInitTests: XCTestCase {
    func testTextPrefixEqualsReadingTheTextFirst() throws {
        let model = TinyModel.make()
        let text = "the cat sat on a mat"
        let options = PromptMethodOptions(virtualTokens: 6, initialisation: .text, initText: text, seed: 1)
        let adapter = try makeAdapter(.prefixTuning, options: options, model: model, tokenizer: TinyModel.tokenizer)
        adapter.isTraining = false
        let ids = TinyModel.tokenizer.encode(text, addSpecialTokens: true)
        XCTAssertEqual(ids.count, 6)
        let inputs: [[Int32]] = [[12, 14, 18, 15], [13, 16]]
        for input in inputs {
            let tape = Tape(recording: false)
            let adapted = TinyModel.logits(model, adapter, TokenBatch(rows: [input]), tape: tape).value.scalars
            let whole = TinyModel.logits(model, nil, TokenBatch(rows: [ids + input]), tape: tape).value.scalars
            let vocab = TinyModel.configuration.vocabularySize
            assertClose(adapted, Array(whole[(ids.count * vocab)...]), atol: 1e-5, rtol: 1e-5, "input \(input)")
        }
        // Trainable, saved as an ordinary PREFIX_TUNING table.
        XCTAssertEqual(adapter.trainableParameters.values.map(\.value.count).reduce(0, +),
                       6 * model.layerCount * 2 * model.kvHeadCount * model.headDim)
    }

    func testTextNeedsNoProjection() {
        let options = PromptMethodOptions(virtualTokens: 3, initialisation: .text, initText: "the cat",
                                          prefixProjection: true, seed: 1)
        XCTAssertThrowsError(try makeAdapter(.prefixTuning, options: options, model: TinyModel.make(),
                                             tokenizer: TinyModel.tokenizer)) {
            guard case AdapterError.invalidOption(field: "initialisation", _) = $0 else { return XCTFail("\($0)") }
        }
    }
}
