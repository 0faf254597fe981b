import Foundation
import XCTest
import TrimtabTensor


/// Asserts that two arrays agree elementwise within `atol + rtol·|expected|`, and
/// reports the largest difference and where it is.
public func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(message): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst: Float = 0, worstIndex = -1, failures = 0
    for i in actual.indices {
        let diff = abs(actual[i] - expected[i])
        if !(diff <= atol + rtol * abs(expected[i])) { failures += 1 }
        if diff > worst || diff.isNaN { worst = diff; worstIndex = i }
    }
    if failures > 0 {
        XCTFail("\(message): \(failures)/\(actual.count) values differ; max |diff| \(worst) at \(worstIndex) "
                + "(got \(actual[worstIndex]), expected \(expected[worstIndex]))", file: file, line: line)
    }
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(message): shape", file: file, line: line)
    assertClose(actual.scalars, expected.scalars, atol: atol, rtol: rtol, message, file: file, line: line)
}

/// A tensor of normal samples from a fixed seed.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SplitMix64(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.floats[i] = rng.nextNormal() * scale }
    return t
}

/// The largest elementwise |a − b|.
public func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
