import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// `Tape.releaseValues(recordedSince:keeping:)` frees exactly the values no recorded
/// backward reads, and gradients do not change.
final class TapeMemoryTests: XCTestCase {
    /// x → scale → frozen linear → rmsNorm → add(z, z): the scale output is read only by
    /// the frozen linear and the rmsNorm output only by `add`, so both go; the linear
    /// output feeds rmsNorm (whose backward reads its input) and stays, as does the kept
    /// output.
    func testReleaseFreesOnlyValuesBackwardNeverReads() throws {
        let weight = Variable(randomTensor([5, 4], seed: 2))
        let gain = Variable(randomTensor([5], seed: 3))
        func run(release: Bool) -> (x: Variable, released: [Bool], shapes: [[Int]]) {
            let x = Variable(randomTensor([3, 4], seed: 1), requiresGrad: true)
            let tape = Tape()
            let start = tape.count
            let h = tape.scale(x, by: 2)
            let y = tape.linear(h, weight)
            let z = tape.rmsNorm(y, weight: gain, eps: 1e-5)
            let out = tape.add(z, z)
            if release { tape.releaseValues(recordedSince: start, keeping: out) }
            let released = [h, y, z, out].map(\.isReleased)
            let shapes = [h, y, z, out].map(\.shape)
            tape.backward(from: out, gradient: randomTensor([3, 5], seed: 4))
            return (x, released, shapes)
        }
        let kept = run(release: false), freed = run(release: true)
        XCTAssertEqual(kept.released, [false, false, false, false])
        XCTAssertEqual(freed.released, [true, false, true, false])
        XCTAssertEqual(freed.shapes, [[3, 4], [3, 5], [3, 5], [3, 5]], "a released variable keeps its shape")
        XCTAssertEqual(try XCTUnwrap(freed.x.grad).scalars, try XCTUnwrap(kept.x.grad).scalars)
    }

    /// A trainable weight's backward reads the layer's input: it is not released.
    func testTrainableLinearKeepsItsInput() {
        let x = Variable(randomTensor([2, 3], seed: 5), requiresGrad: true)
        let weight = Variable(randomTensor([4, 3], seed: 6), requiresGrad: true)
        let tape = Tape()
        let h = tape.scale(x, by: 0.5)
        let y = tape.linear(h, weight)
        tape.releaseValues(recordedSince: 0, keeping: y)
        XCTAssertFalse(h.isReleased)
        tape.backward(from: y, gradient: randomTensor([2, 4], seed: 7))
        XCTAssertNotNil(weight.grad)
    }

    /// A norm's bf16 copy goes at release even when backward keeps its f32 value (a
    /// trainable linear reads it, as LoRA's does): only forward products read the copy.
    func testReleaseDropsRoundedCopiesOfKeptValues() {
        let x = Variable(randomTensor([2, 8], seed: 9), requiresGrad: true)
        let gain = Variable(randomTensor([8], seed: 10))
        let weight = Variable(randomTensor([4, 8], seed: 11), requiresGrad: true)
        let tape = Tape()
        let h = tape.rmsNorm(x, weight: gain, eps: 1e-5, roundedCopy: true)
        let y = tape.linear(h, weight)
        XCTAssertNotNil(h.roundedBF16)
        tape.releaseValues(recordedSince: 0, keeping: y)
        XCTAssertFalse(h.isReleased)
        XCTAssertNil(h.roundedBF16)
    }

    /// Nothing is released on a tape that does not record (inference, generation).
    func testInferenceTapeReleasesNothing() {
        let tape = Tape(recording: false)
        let h = tape.scale(Variable(randomTensor([2, 3], seed: 8)), by: 2)
        let y = tape.add(h, h)
        tape.releaseValues(recordedSince: 0, keeping: y)
        XCTAssertFalse(h.isReleased)
    }
}
