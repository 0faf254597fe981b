import Foundation
import TrimtabTestSupport
import XCTest
@testable import TrimtabTensor

/// Optimizers, schedules and clipping against `scripts/reference/optim.py` (torch 2.13,
/// transformers 5.23). The optimizer problem: two parameters p0 (3, 4) and p1 (5,),
/// values bounded away from zero so relative errors mean something, and ten fixed
/// gradient pairs; p1 has no gradient in the steps `p1_skip`, so per-parameter step
/// counts (bias correction, momentum initialisation) are exercised.
final class OptimizerTests: XCTestCase {
    static let steps = 10

    // MARK: - Helpers

    /// Fresh trainable copies of the fixture's initial parameters.
    private func parameters(_ c: FixtureCase) -> [Variable] {
        [Variable(c.tensor("p0"), requiresGrad: true, name: "p0"),
         Variable(c.tensor("p1"), requiresGrad: true, name: "p1")]
    }

    /// Runs fixture steps `range`, setting the gradients as the reference did.
    private func run(_ optimizer: Optimizer, _ c: FixtureCase, steps range: Range<Int>,
                     schedule: LRSchedule? = nil, baseLR: Float = 0) {
        let skip = Set(c.ints("p1_skip"))
        let (w0, w1) = (optimizer.parameters[0], optimizer.parameters[1])
        for k in range {
            optimizer.zeroGrad()
            w0.grad = c.tensor("g0_\(k)")
            w1.grad = skip.contains(k) ? nil : c.tensor("g1_\(k)")
            if let schedule { optimizer.learningRate = baseLR * schedule.multiplier(step: optimizer.stepCount) }
            optimizer.step()
        }
    }

    /// The largest `|a − e| / |e|` (parameters are bounded away from zero).
    private func maxRelativeDifference(_ actual: Tensor, _ expected: Tensor) -> Double {
        zip(actual.scalars, expected.scalars).map { abs(Double($0) - Double($1)) / abs(Double($1)) }.max() ?? 0
    }

    private func makeAdamW(_ c: FixtureCase, _ params: [Variable]) throws -> AdamW {
        let betas = c.doubles("betas") ?? [0.9, 0.999]
        let hasDecay = c.params?["weight_decay"] != nil
        return try AdamW(parameters: params, learningRate: Float(c.double("lr")),
                         beta1: betas[0], beta2: betas[1],
                         eps: c.params?["eps"] == nil ? 1e-8 : c.double("eps"),
                         weightDecay: hasDecay ? c.double("weight_decay") : 0.01)
    }

    private func makeSGD(_ c: FixtureCase, _ params: [Variable]) throws -> SGD {
        try SGD(parameters: params, learningRate: Float(c.double("lr")), momentum: c.double("momentum"),
                dampening: c.double("dampening"), weightDecay: c.double("weight_decay"),
                nesterov: c.bool("nesterov"))
    }

    // MARK: - Against torch

    /// torch.optim.AdamW, 10 steps: parameters to 1e-6 relative (the acceptance bar),
    /// moments and per-parameter step counts as torch's state.
    func testAdamWMatchesTorch() throws {
        let fixture = try FixtureFile.load("optim")
        for name in ["adamw", "adamw_defaults", "adamw_scheduled"] {
            let c = try XCTUnwrap(fixture.named(name))
            let params = parameters(c)
            let optimizer = try makeAdamW(c, params)
            if name == "adamw_scheduled" {
                let schedule = LRSchedule.linear(warmupSteps: c.int("warmup"), totalSteps: c.int("total"))
                run(optimizer, c, steps: 0..<Self.steps, schedule: schedule, baseLR: Float(c.double("lr")))
            } else {
                run(optimizer, c, steps: 0..<Self.steps)
            }
            XCTAssertEqual(optimizer.stepCount, Self.steps)
            let worst = max(maxRelativeDifference(params[0].value, c.tensor("p0_final")),
                            maxRelativeDifference(params[1].value, c.tensor("p1_final")))
            print("\(name): max relative difference of parameters vs torch after \(Self.steps) steps: \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-6, name)
            assertClose(params[0].value, c.tensor("p0_final"), atol: 0, rtol: 1e-6, "\(name) p0")
            assertClose(params[1].value, c.tensor("p1_final"), atol: 0, rtol: 1e-6, "\(name) p1")
            let state = optimizer.stateTensors()
            for i in 0..<2 {
                for key in ["\(i).exp_avg", "\(i).exp_avg_sq"] {
                    assertClose(try XCTUnwrap(state[key]), c.tensor(key), atol: 0, rtol: 1e-6, "\(name) \(key)")
                }
                XCTAssertEqual(state["\(i).step"]?.scalars, c.tensor("\(i).step").scalars, "\(name) \(i).step")
            }
        }
    }

    /// torch.optim.SGD (plain; momentum with dampening and decay; Nesterov), 10 steps.
    func testSGDMatchesTorch() throws {
        let fixture = try FixtureFile.load("optim")
        for name in ["sgd_plain", "sgd_momentum", "sgd_nesterov"] {
            let c = try XCTUnwrap(fixture.named(name))
            let params = parameters(c)
            let optimizer = try makeSGD(c, params)
            run(optimizer, c, steps: 0..<Self.steps)
            let worst = max(maxRelativeDifference(params[0].value, c.tensor("p0_final")),
                            maxRelativeDifference(params[1].value, c.tensor("p1_final")))
            print("\(name): max relative difference of parameters vs torch: \(worst)")
            assertClose(params[0].value, c.tensor("p0_final"), atol: 0, rtol: 1e-6, "\(name) p0")
            assertClose(params[1].value, c.tensor("p1_final"), atol: 0, rtol: 1e-6, "\(name) p1")
            let state = optimizer.stateTensors()
            if c.double("momentum") != 0 {
                for key in ["0.momentum_buffer", "1.momentum_buffer"] {
                    assertClose(try XCTUnwrap(state[key]), c.tensor(key), atol: 0, rtol: 1e-6, "\(name) \(key)")
                }
            } else {
                XCTAssertEqual(Set(state.keys), ["0.step", "1.step"])
            }
            XCTAssertEqual(state["1.step"]?.scalars, [Float(Self.steps - c.ints("p1_skip").count)])
        }
    }

    // MARK: - Checkpoint resume

    /// Ten steps straight equal five steps, export, import into a fresh optimizer over
    /// fresh copies of the parameters, five more steps — bit for bit.
    func testStateRoundTripContinuesIdentically() throws {
        let fixture = try FixtureFile.load("optim")
        for name in ["adamw", "sgd_momentum", "sgd_nesterov"] {
            let c = try XCTUnwrap(fixture.named(name))
            let make: (FixtureCase, [Variable]) throws -> Optimizer = name.hasPrefix("adamw")
                ? { try self.makeAdamW($0, $1) } : { try self.makeSGD($0, $1) }

            let straightParams = parameters(c)
            let straight = try make(c, straightParams)
            run(straight, c, steps: 0..<Self.steps)

            let firstParams = parameters(c)
            let first = try make(c, firstParams)
            run(first, c, steps: 0..<5)
            let saved = first.stateTensors()
            let resumedParams = firstParams.map { Variable($0.value.copy(), requiresGrad: true, name: $0.name) }
            let resumed = try make(c, resumedParams)
            try resumed.loadState(saved, step: first.stepCount)
            XCTAssertEqual(resumed.stepCount, 5)
            // The export is a copy: stepping the original must not move the resumed state.
            run(first, c, steps: 5..<6)
            run(resumed, c, steps: 5..<Self.steps)

            XCTAssertEqual(resumed.stepCount, Self.steps)
            for i in 0..<2 {
                XCTAssertEqual(resumedParams[i].value.scalars, straightParams[i].value.scalars, "\(name) p\(i)")
            }
            let a = straight.stateTensors(), b = resumed.stateTensors()
            XCTAssertEqual(Set(a.keys), Set(b.keys))
            for key in a.keys { XCTAssertEqual(a[key]?.scalars, b[key]?.scalars, "\(name) \(key)") }
        }
    }

    /// Loading mismatched state throws an error naming the key and leaves the optimizer
    /// unchanged.
    func testLoadStateErrors() throws {
        let params = [Variable(randomTensor([2, 3], seed: 1), requiresGrad: true),
                      Variable(randomTensor([4], seed: 2), requiresGrad: true)]
        let optimizer = try AdamW(parameters: params, learningRate: 0.1)
        params[0].grad = randomTensor([2, 3], seed: 3)
        params[1].grad = randomTensor([4], seed: 4)
        optimizer.step()
        let good = optimizer.stateTensors()

        var missing = good
        missing["1.exp_avg_sq"] = nil
        XCTAssertThrowsError(try optimizer.loadState(missing, step: 7)) {
            XCTAssertEqual($0 as? OptimizerError, .missingStateKey("1.exp_avg_sq"))
        }
        var wrongShape = good
        wrongShape["0.exp_avg"] = Tensor(zeros: [3, 2])
        XCTAssertThrowsError(try optimizer.loadState(wrongShape, step: 7)) {
            XCTAssertEqual($0 as? OptimizerError, .stateShapeMismatch(key: "0.exp_avg", expected: [2, 3], got: [3, 2]))
        }
        var extra = good
        extra["2.exp_avg"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try optimizer.loadState(extra, step: 7)) {
            XCTAssertEqual($0 as? OptimizerError, .unexpectedStateKey("2.exp_avg"))
        }
        var badStep = good
        badStep["0.step"] = Tensor(scalar: 1.5)
        XCTAssertThrowsError(try optimizer.loadState(badStep, step: 7)) {
            XCTAssertEqual($0 as? OptimizerError, .invalidStepCount(key: "0.step", value: 1.5))
        }
        // SGD momentum state is not AdamW state.
        let sgd = try SGD(parameters: params, learningRate: 0.1, momentum: 0.9)
        XCTAssertThrowsError(try sgd.loadState(good, step: 1)) {
            XCTAssertEqual($0 as? OptimizerError, .missingStateKey("0.momentum_buffer"))
        }

        XCTAssertEqual(optimizer.stepCount, 1)
        let after = optimizer.stateTensors()
        for key in good.keys { XCTAssertEqual(after[key]?.scalars, good[key]?.scalars, key) }
        XCTAssertTrue("\(OptimizerError.missingStateKey("1.exp_avg_sq"))".contains("1.exp_avg_sq"))
    }

    func testInvalidParametersAndHyperparameters() {
        let frozen = Variable(randomTensor([2], seed: 1), requiresGrad: false, name: "frozen")
        XCTAssertThrowsError(try AdamW(parameters: [frozen], learningRate: 0.1)) {
            XCTAssertEqual($0 as? OptimizerError, .parameterNotTrainable(index: 0, name: "frozen"))
        }
        let half = Variable(randomTensor([2], seed: 1).converted(to: .bf16), requiresGrad: true)
        XCTAssertThrowsError(try SGD(parameters: [half], learningRate: 0.1)) {
            XCTAssertEqual($0 as? OptimizerError, .parameterNotF32(index: 0, name: nil, dtype: .bf16))
        }
        let p = Variable(randomTensor([2], seed: 1), requiresGrad: true)
        XCTAssertThrowsError(try AdamW(parameters: [p, p], learningRate: 0.1)) {
            XCTAssertEqual($0 as? OptimizerError, .duplicateParameter(index: 1, name: nil))
        }
        XCTAssertThrowsError(try AdamW(parameters: [p], learningRate: -1))
        XCTAssertThrowsError(try AdamW(parameters: [p], learningRate: 0.1, beta2: 1))
        XCTAssertThrowsError(try AdamW(parameters: [p], learningRate: .nan))
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: 0.1, nesterov: true))
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true))
    }

    /// A parameter without a gradient is skipped: unchanged, and its state does not advance.
    func testZeroGradAndSkippedParameters() throws {
        let a = Variable(randomTensor([3], seed: 1), requiresGrad: true)
        let b = Variable(randomTensor([3], seed: 2), requiresGrad: true)
        let before = b.value.scalars
        let optimizer = try AdamW(parameters: [a, b], learningRate: 0.1)
        a.grad = randomTensor([3], seed: 3)
        optimizer.step()
        XCTAssertEqual(b.value.scalars, before)
        XCTAssertNotEqual(a.value.scalars, randomTensor([3], seed: 1).scalars)
        XCTAssertEqual(optimizer.stateTensors()["1.step"]?.scalars, [0])
        optimizer.zeroGrad()
        XCTAssertNil(a.grad)
    }

    /// The SIMD blocks, ragged tail and thread split of a large parameter give exactly
    /// the plain scalar formula.
    func testLargeParameterMatchesScalarFormula() throws {
        let n = 3 * optimizerGrain + 5
        let p = Variable(randomTensor([n], seed: 11), requiresGrad: true)
        let start = p.value.scalars
        let optimizer = try AdamW(parameters: [p], learningRate: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1)
        var m = [Float](repeating: 0, count: n), v = m, expected = start
        for t in 1...2 {
            let g = randomTensor([n], seed: UInt64(20 + t))
            p.grad = g
            optimizer.step()
            let bc1 = 1 - pow(0.8, Double(t))
            let bc2 = 1 - pow(0.99, Double(t))
            let decay = Float(1 - Double(Float(0.01)) * 0.1)
            let w1 = Float(1 - 0.8), w2 = Float(1 - 0.99)
            let stepSize = Float(-(Double(Float(0.01)) / bc1)), bc2s = Float(bc2.squareRoot())
            for i in 0..<n {
                let gi = g.floats[i]
                expected[i] = expected[i] * decay
                m[i] = m[i].addingProduct(w1, gi - m[i])
                v[i] = (v[i] * Float(0.99)).addingProduct(w2 * gi, gi)
                expected[i] = expected[i] + (stepSize * m[i]) / (v[i].squareRoot() / bc2s + Float(1e-6))
            }
        }
        assertClose(p.value.scalars, expected, atol: 0, rtol: 0, "large AdamW")
    }

    // MARK: - Clipping

    func testClipGradientNormMatchesTorch() throws {
        let fixture = try FixtureFile.load("optim")
        for name in ["clip_above", "clip_below"] {
            let c = try XCTUnwrap(fixture.named(name))
            var params = (0..<3).map { i -> Variable in
                let g = c.tensor("g\(i)")
                let v = Variable(Tensor(zeros: g.shape), requiresGrad: true)
                v.grad = g
                return v
            }
            params.append(Variable(Tensor(zeros: [3]), requiresGrad: true))  // no gradient: skipped
            let norm = clipGradientNorm(params, maxNorm: Float(c.double("max_norm")))
            let expectedNorm = Float(c.double("norm"))
            print("\(name): norm \(norm), torch \(expectedNorm)")
            XCTAssertEqual(norm, expectedNorm, accuracy: expectedNorm * 1e-6, name)
            for i in 0..<3 {
                let g = try XCTUnwrap(params[i].grad)
                if name == "clip_below" {
                    XCTAssertEqual(g.scalars, c.tensor("g\(i)").scalars, "below the threshold nothing is scaled")
                }
                assertClose(g, c.tensor("clipped\(i)"), atol: 0, rtol: 1e-6, "\(name) grad \(i)")
            }
            XCTAssertNil(params[3].grad)
        }
    }

    /// Large gradients sum in fixed blocks; the norm agrees with a Double reference and
    /// the clipped norm equals maxNorm.
    func testClipGradientNormLarge() {
        let g = randomTensor([100_003], seed: 5)
        let reference = g.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let p = Variable(Tensor(zeros: g.shape), requiresGrad: true)
        p.grad = g
        let norm = clipGradientNorm([p], maxNorm: 1)
        XCTAssertEqual(Double(norm), reference, accuracy: reference * 1e-7)
        let after = clipGradientNorm([p], maxNorm: 1)
        XCTAssertEqual(after, 1, accuracy: 1e-5)
    }

    // MARK: - Schedules

    func testSchedulesMatchTransformers() throws {
        let c = try XCTUnwrap(try FixtureFile.load("optim").named("schedules"))
        let schedules: [String: LRSchedule] = [
            "linear_w3_t12": .linear(warmupSteps: 3, totalSteps: 12),
            "linear_w0_t10": .linear(warmupSteps: 0, totalSteps: 10),
            "cosine_w3_t12": .cosine(warmupSteps: 3, totalSteps: 12),
            "cosine_w0_t10": .cosine(warmupSteps: 0, totalSteps: 10),
            "cosine_w2_t10_min0.1": .cosine(warmupSteps: 2, totalSteps: 10, minRatio: 0.1),
            "constant_with_warmup_w4": .constantWithWarmup(warmupSteps: 4),
            "constant_with_warmup_w0": .constantWithWarmup(warmupSteps: 0),
        ]
        XCTAssertEqual(Set(schedules.keys), Set(c.tensors.keys))
        for (key, schedule) in schedules {
            let expected = c.tensor(key).scalars
            let actual = expected.indices.map { schedule.multiplier(step: $0) }
            // minRatio is an f32 (0.1 rounds), so that schedule is off by ~1e-9.
            assertClose(actual, expected, atol: 1e-7, rtol: 0, key)
        }
        XCTAssertEqual(LRSchedule.constant.multiplier(step: 123), 1)
    }

    func testScheduleParsingAndCoding() throws {
        XCTAssertEqual(try LRSchedule(parsing: "constant"), .constant)
        XCTAssertEqual(try LRSchedule(parsing: "Linear", warmupSteps: 2, totalSteps: 9), .linear(warmupSteps: 2, totalSteps: 9))
        XCTAssertEqual(try LRSchedule(parsing: "cosine", warmupSteps: 1, totalSteps: 5),
                       .cosine(warmupSteps: 1, totalSteps: 5, minRatio: 0))
        XCTAssertEqual(try LRSchedule(parsing: "cosine-with-min-lr", warmupSteps: 1, totalSteps: 5, minRatio: 0.1),
                       .cosine(warmupSteps: 1, totalSteps: 5, minRatio: 0.1))
        XCTAssertEqual(try LRSchedule(parsing: "constant_with_warmup", warmupSteps: 4), .constantWithWarmup(warmupSteps: 4))
        XCTAssertEqual(try LRSchedule(parsing: "constantWithWarmup", warmupSteps: 4), .constantWithWarmup(warmupSteps: 4))
        XCTAssertThrowsError(try LRSchedule(parsing: "polynomial")) {
            XCTAssertEqual($0 as? LRScheduleError, .unknownName("polynomial", known: LRSchedule.names))
        }
        XCTAssertThrowsError(try LRSchedule(parsing: "linear", warmupSteps: -1, totalSteps: 5)) {
            XCTAssertEqual($0 as? LRScheduleError, .invalidValue(field: "warmupSteps", value: -1, reason: "must be ≥ 0"))
        }
        XCTAssertThrowsError(try LRSchedule(parsing: "cosine", totalSteps: 5, minRatio: 2))

        let all: [LRSchedule] = [.constant, .linear(warmupSteps: 3, totalSteps: 100),
                                 .cosine(warmupSteps: 10, totalSteps: 1000, minRatio: 0.25),
                                 .constantWithWarmup(warmupSteps: 7)]
        for schedule in all {
            let data = try JSONEncoder().encode(schedule)
            XCTAssertEqual(try JSONDecoder().decode(LRSchedule.self, from: data), schedule, String(decoding: data, as: UTF8.self))
        }
        let json = #"{"type": "cosine", "warmupSteps": 10, "totalSteps": 1000}"#
        XCTAssertEqual(try JSONDecoder().decode(LRSchedule.self, from: Data(json.utf8)),
                       .cosine(warmupSteps: 10, totalSteps: 1000))
        XCTAssertThrowsError(try JSONDecoder().decode(LRSchedule.self, from: Data(#"{"type": "linear"}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(LRSchedule.self, from: Data(#"{"type": "step"}"#.utf8)))
    }
}

private extension FixtureCase {
    /// A list parameter as Doubles, or nil if absent.
    func doubles(_ key: String) -> [Double]? {
        if case let .list(values)? = params?[key] { return values }
        return nil
    }
}
