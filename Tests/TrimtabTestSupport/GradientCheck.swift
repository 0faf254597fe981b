import Foundation
import XCTest
import TrimtabTensor

/// Checks the tape's gradients against central finite differences.
///
/// The scalar checked is `L = Σ y ⊙ R` for the op's output `y` and a fixed random
/// projection `R`, so every output element contributes. The analytic gradient comes from
/// one `backward` seeded with `R`; the numerical one from
/// `(L(x + ε) − L(x − ε)) / 2ε` per input element, with both losses summed in Double.
/// The forward kernels run in f32, so ε is large enough (1e-2 by default) that f32
/// rounding stays far below the tolerance, and small enough that the O(ε²) truncation
/// does too. Large inputs are checked on a random sample of `maxElements` entries.
///
/// Deep, strongly curved models leave no ε where both errors are small with the central
/// difference; `fivePoint` uses the fourth-order stencil
/// `(−L(x+2ε) + 8L(x+ε) − 8L(x−ε) + L(x−2ε)) / 12ε`, whose truncation error is O(ε⁴), so a
/// larger ε divides the f32 rounding noise without adding truncation error.
///
/// - Parameters:
///   - inputs: the variables whose gradients are checked (all must require gradients).
///   - build: runs the op(s) under test on the given tape.
public func checkGradients(_ label: String, inputs: [Variable], eps: Float = 1e-2, atol: Double = 1e-3,
                    rtol: Double = 1e-2, maxElements: Int = 48, seed: UInt64 = 99, fivePoint: Bool = false,
                    file: StaticString = #filePath, line: UInt = #line,
                    _ build: (Tape) -> Variable) {
    let tape = Tape()
    let y = build(tape)
    var rng = SplitMix64(seed: seed)
    let projection = Tensor(zeros: y.shape)
    for i in 0..<projection.count { projection.floats[i] = rng.nextFloat() * 2 - 1 }
    for input in inputs { input.zeroGrad() }
    tape.backward(from: y, gradient: projection)

    func loss() -> Double {
        let t = Tape(recording: false)
        let out = build(t).value
        var sum = 0.0
        for i in 0..<out.count { sum += Double(out.floats[i]) * Double(projection.floats[i]) }
        return sum
    }

    for (inputIndex, input) in inputs.enumerated() {
        let analytic = input.grad?.scalars ?? [Float](repeating: 0, count: input.value.count)
        let n = input.value.count
        var indices = Array(0..<n)
        if n > maxElements {
            indices.shuffle(using: &rng)
            indices = Array(indices.prefix(maxElements))
        }
        var worst = 0.0, failures: [String] = []
        for i in indices {
            let original = input.value.floats[i]
            func shifted(_ offset: Float) -> Double {
                input.value.floats[i] = original + offset
                defer { input.value.floats[i] = original }
                return loss()
            }
            let numeric = fivePoint
                ? (-shifted(2 * eps) + 8 * shifted(eps) - 8 * shifted(-eps) + shifted(-2 * eps)) / (12 * Double(eps))
                : (shifted(eps) - shifted(-eps)) / (2 * Double(eps))
            let exact = Double(analytic[i])
            let diff = abs(numeric - exact)
            worst = max(worst, diff)
            if diff > atol + rtol * max(abs(numeric), abs(exact)) {
                failures.append("[\(i)] analytic \(exact) numeric \(numeric)")
            }
        }
        if !failures.isEmpty {
            XCTFail("\(label): gradient of input \(inputIndex) (\(input.name ?? "unnamed"), shape \(input.shape)) "
                    + "differs at \(failures.count)/\(indices.count) elements, max |diff| \(worst): "
                    + failures.prefix(4).joined(separator: "; "), file: file, line: line)
        }
    }
}

/// Adds `scale · N(0, 1)` noise to every parameter, in the order of their names, so the
/// point a test checks is the same in every run (a dictionary's iteration order is not).
public func perturb(_ parameters: [String: Variable], scale: Float, seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    for name in parameters.keys.sorted() {
        let p = parameters[name]!
        for i in 0..<p.value.count { p.value.floats[i] += scale * rng.nextNormal() }
    }
}
