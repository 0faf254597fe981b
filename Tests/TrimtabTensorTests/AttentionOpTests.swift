import TrimtabTestSupport
import XCTest
import CTrimtabKernels
@testable import TrimtabTensor

final class AttentionOpTests: XCTestCase {
    /// Output and all five gradients against the explicit PyTorch reference
    /// (`softmax(Q Kᵀ · scale + mask) V`, `repeat_interleave` for GQA, prefix rows
    /// concatenated before the keys).
    func testMatchesPyTorch() throws {
        let fixtures = try FixtureFile.load("ops_attention")
        let cases = fixtures.cases.filter { $0.string("op") == "attention" }
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            let q = Variable(c.tensor("query"), requiresGrad: true)
            let k = Variable(c.tensor("key"), requiresGrad: true)
            let v = Variable(c.tensor("value"), requiresGrad: true)
            var options = AttentionOptions(causal: c.bool("causal"))
            if c.params?["keyMask"] != nil { options.keyMask = c.ints("keyMask").map(UInt8.init) }
            if c.params?["prefixMask"] != nil { options.prefixMask = c.ints("prefixMask").map(UInt8.init) }
            if c.params?["scale"] != nil { options.scale = Float(c.double("scale")) }
            var prefix: [Variable] = []
            if c.tensors["prefixKey"] != nil {
                options.prefixKey = Variable(c.tensor("prefixKey"), requiresGrad: true)
                options.prefixValue = Variable(c.tensor("prefixValue"), requiresGrad: true)
                prefix = [options.prefixKey!, options.prefixValue!]
            }
            let tape = Tape()
            let y = tape.attention(query: q, key: k, value: v, options: options)
            XCTAssertFalse(y.value.scalars.contains { !$0.isFinite }, "\(c.name): non-finite output")
            assertClose(y.value, c.tensor("out"), atol: 1e-5, rtol: 1e-4, "\(c.name) forward")
            tape.backward(from: y, gradient: c.tensor("dout"))
            for (variable, key) in zip([q, k, v] + prefix, ["dquery", "dkey", "dvalue", "dprefixKey", "dprefixValue"]) {
                assertClose(variable.grad ?? Tensor(zeros: variable.shape), c.tensor(key), atol: 1e-5, rtol: 1e-4,
                            "\(c.name) \(key)")
            }
        }
    }

    /// Finite differences over the shapes and options the models use.
    func testGradients() {
        struct Case {
            var name: String
            var b = 2, t = 3, s = 3, hq = 2, hkv = 1, d = 5
            var causal = true
            var keyMask: [UInt8]? = nil
            var prefix = 0, prefixBatch = 1
            var prefixMask: [UInt8]? = nil
            var scale: Float? = nil
        }
        let cases = [
            Case(name: "causal GQA 2"),
            Case(name: "non-causal MHA", t: 4, s: 4, hq: 3, hkv: 3, causal: false),
            Case(name: "one head, T=1", b: 1, t: 1, s: 1, hq: 1, hkv: 1, d: 4),
            Case(name: "decode T=1 S=5, GQA 3", t: 1, s: 5, hq: 3, hkv: 1, keyMask: [1, 1, 1, 1, 1, 0, 0, 1, 1, 1]),
            Case(name: "cache offset T=2 S=4", t: 2, s: 4, hq: 2, hkv: 2),
            Case(name: "padding + fully masked row", t: 2, s: 3, causal: false, keyMask: [0, 1, 1, 0, 0, 0]),
            Case(name: "left padding, causal", t: 3, s: 3, hq: 6, hkv: 2, d: 4, keyMask: [1, 1, 1, 0, 1, 1]),
            Case(name: "prefix Bp=1", hq: 3, hkv: 1, prefix: 2, prefixBatch: 1),
            Case(name: "prefix Bp=B, masks", hq: 2, hkv: 2, keyMask: [1, 1, 1, 0, 1, 1], prefix: 3, prefixBatch: 2,
                 prefixMask: [1, 1, 1, 1, 0, 0]),
            Case(name: "prefix Bp=1, per-row lengths, non-causal", b: 3, t: 2, causal: false, prefix: 3,
                 prefixMask: [1, 1, 1, 1, 1, 0, 0, 0, 0], scale: 0.5),
            Case(name: "prefix only, all keys masked", b: 1, t: 2, s: 2, keyMask: [0, 0], prefix: 2),
            Case(name: "D=20 (SIMD body + tail)", b: 1, t: 3, s: 4, hq: 2, hkv: 1, d: 20, causal: true, prefix: 1),
        ]
        for (index, c) in cases.enumerated() {
            let seed = UInt64(100 * index)
            let q = Variable(randomTensor([c.b, c.t, c.hq, c.d], seed: seed + 1), requiresGrad: true, name: "query")
            let k = Variable(randomTensor([c.b, c.s, c.hkv, c.d], seed: seed + 2), requiresGrad: true, name: "key")
            let v = Variable(randomTensor([c.b, c.s, c.hkv, c.d], seed: seed + 3), requiresGrad: true, name: "value")
            var options = AttentionOptions(causal: c.causal, keyMask: c.keyMask, prefixMask: c.prefixMask, scale: c.scale)
            var inputs = [q, k, v]
            if c.prefix > 0 {
                let shape = [c.prefixBatch, c.prefix, c.hkv, c.d]
                options.prefixKey = Variable(randomTensor(shape, seed: seed + 4), requiresGrad: true, name: "prefixKey")
                options.prefixValue = Variable(randomTensor(shape, seed: seed + 5), requiresGrad: true, name: "prefixValue")
                inputs += [options.prefixKey!, options.prefixValue!]
            }
            checkGradients(c.name, inputs: inputs) { $0.attention(query: q, key: k, value: v, options: options) }
        }
    }

    /// A query row that can see no key at all outputs zeros (no NaN) and passes no gradient.
    func testFullyMaskedRowIsZero() {
        let q = Variable(randomTensor([2, 2, 2, 4], seed: 31), requiresGrad: true)
        let k = Variable(randomTensor([2, 3, 1, 4], seed: 32), requiresGrad: true)
        let v = Variable(randomTensor([2, 3, 1, 4], seed: 33), requiresGrad: true)
        let tape = Tape()
        let y = tape.attention(query: q, key: k, value: v,
                               options: AttentionOptions(causal: false, keyMask: [1, 0, 1, 0, 0, 0]))
        let out = y.value.scalars
        XCTAssertFalse(out.contains { $0.isNaN })
        XCTAssertEqual(Array(out[16...]), [Float](repeating: 0, count: 16), "row 1 has no valid key")
        tape.backward(from: y)
        XCTAssertEqual(Array(q.grad!.scalars[16...]), [Float](repeating: 0, count: 16))
        XCTAssertEqual(Array(k.grad!.scalars[12...]), [Float](repeating: 0, count: 12))
        XCTAssertFalse(q.grad!.scalars.contains { $0.isNaN } || k.grad!.scalars.contains { $0.isNaN })
    }

    /// Prefix rows in causal attention equal keys placed before the sequence (the causal
    /// offset S − T then lets every query see them), for outputs and all gradients.
    func testPrefixEqualsPrependedKeys() {
        let (b, t, p, hq, hkv, d) = (2, 3, 2, 4, 2, 8)
        let q = randomTensor([b, t, hq, d], seed: 41), k = randomTensor([b, t, hkv, d], seed: 42)
        let v = randomTensor([b, t, hkv, d], seed: 43)
        let pk = randomTensor([b, p, hkv, d], seed: 44), pv = randomTensor([b, p, hkv, d], seed: 45)
        let dout = randomTensor([b, t, hq, d], seed: 46)

        let vars = [q, k, v, pk, pv].map { Variable($0.copy(), requiresGrad: true) }
        let tape = Tape()
        let y = tape.attention(query: vars[0], key: vars[1], value: vars[2],
                               options: AttentionOptions(prefixKey: vars[3], prefixValue: vars[4]))
        tape.backward(from: y, gradient: dout)

        func prepend(_ prefix: Tensor, _ rows: Tensor) -> Tensor {
            let joined = Tensor(zeros: [b, p + t, hkv, d])
            let (pr, rr) = (p * hkv * d, t * hkv * d)
            for i in 0..<b {
                (joined.floats + i * (pr + rr)).update(from: prefix.floats + i * pr, count: pr)
                (joined.floats + i * (pr + rr) + pr).update(from: rows.floats + i * rr, count: rr)
            }
            return joined
        }
        let q2 = Variable(q.copy(), requiresGrad: true)
        let k2 = Variable(prepend(pk, k), requiresGrad: true), v2 = Variable(prepend(pv, v), requiresGrad: true)
        let tape2 = Tape()
        let y2 = tape2.attention(query: q2, key: k2, value: v2)
        tape2.backward(from: y2, gradient: dout)

        assertClose(y.value, y2.value, atol: 1e-6, rtol: 1e-5, "output")
        assertClose(vars[0].grad!, q2.grad!, atol: 1e-6, rtol: 1e-5, "dquery")
        assertClose(prepend(vars[3].grad!, vars[1].grad!), k2.grad!, atol: 1e-6, rtol: 1e-5, "dkey")
        assertClose(prepend(vars[4].grad!, vars[2].grad!), v2.grad!, atol: 1e-6, rtol: 1e-5, "dvalue")
    }

    /// A KV-cache decoding step (T = 1 over S cached keys) equals the last row of the full
    /// causal attention over the S tokens.
    func testDecodeStepMatchesFullSequence() {
        let (s, hq, hkv, d) = (6, 6, 2, 16)
        let q = randomTensor([1, s, hq, d], seed: 51), k = randomTensor([1, s, hkv, d], seed: 52)
        let v = randomTensor([1, s, hkv, d], seed: 53)
        let tape = Tape(recording: false)
        let full = tape.attention(query: Variable(q), key: Variable(k), value: Variable(v)).value
        let lastQuery = q.reshaped([s, hq, d]).rows((s - 1)..<s).reshaped([1, 1, hq, d])
        let step = tape.attention(query: Variable(lastQuery), key: Variable(k), value: Variable(v)).value
        assertClose(step.scalars, Array(full.scalars[((s - 1) * hq * d)...]), atol: 1e-6, rtol: 1e-5, "decode step")
    }

    /// Only inputs that require a gradient get one (prefix tuning: frozen q, k, v).
    func testOnlyTrainableInputsGetGradients() {
        let q = Variable(randomTensor([1, 2, 2, 4], seed: 61))
        let k = Variable(randomTensor([1, 2, 1, 4], seed: 62)), v = Variable(randomTensor([1, 2, 1, 4], seed: 63))
        let pk = Variable(randomTensor([1, 3, 1, 4], seed: 64), requiresGrad: true)
        let pv = Variable(randomTensor([1, 3, 1, 4], seed: 65), requiresGrad: true)
        let tape = Tape()
        let y = tape.attention(query: q, key: k, value: v, options: AttentionOptions(prefixKey: pk, prefixValue: pv))
        tape.backward(from: y)
        XCTAssertNil(q.grad)
        XCTAssertNil(k.grad)
        XCTAssertNil(v.grad)
        XCTAssertNotNil(pk.grad)
        XCTAssertNotNil(pv.grad)

        let frozen = Tape()
        _ = frozen.attention(query: q, key: k, value: v)
        XCTAssertEqual(frozen.count, 0, "attention over frozen inputs must not be recorded")
    }

    /// Backward in query tiles (as long sequences run) gives the gradients of one tile.
    func testBackwardTilesAgree() {
        let (b, t, s, p, hq, hkv, d) = (2, 7, 9, 2, 4, 2, 12)
        let q = randomTensor([b, t, hq, d], seed: 81), k = randomTensor([b, s, hkv, d], seed: 82)
        let v = randomTensor([b, s, hkv, d], seed: 83)
        let pk = randomTensor([1, p, hkv, d], seed: 84), pv = randomTensor([1, p, hkv, d], seed: 85)
        let dout = randomTensor([b, t, hq, d], seed: 86)
        let keyMask: [UInt8] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]
        let prefixMask: [UInt8] = [1, 1, 1, 0]
        var geometry = AttentionGeometry(batch: b, queries: t, keys: s, queryHeads: hq, kvHeads: hkv, headDim: d,
                                         prefix: p, prefixBatch: 1, causal: true, scale: 0.3)
        let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [b, hq, t])
        func gradients(tile: Int?) -> [[Float]] {
            geometry.queryTile = tile
            let grads = [q, k, v, pk, pv].map { Tensor(zeros: $0.shape) }
            keyMask.withUnsafeBufferPointer { km in
                prefixMask.withUnsafeBufferPointer { pm in
                    let x = AttentionOperands(query: q.floats, key: k.floats, value: v.floats, prefixKey: pk.floats,
                                              prefixValue: pv.floats, keyMask: km.baseAddress, prefixMask: pm.baseAddress)
                    AttentionKernel.forward(out: out.floats, logSumExp: lse.floats, x, geometry)
                    AttentionKernel.backward(AttentionGradients(query: grads[0].floats, key: grads[1].floats,
                                                                value: grads[2].floats, prefixKey: grads[3].floats,
                                                                prefixValue: grads[4].floats),
                                             dout: dout.floats, out: out.floats, logSumExp: lse.floats, x, geometry)
                }
            }
            return grads.map(\.scalars)
        }
        let whole = gradients(tile: nil)
        for tile in [1, 2, 3] {
            for (name, (tiled, reference)) in zip(["dq", "dk", "dv", "dpk", "dpv"], zip(gradients(tile: tile), whole)) {
                assertClose(tiled, reference, atol: 1e-6, rtol: 1e-5, "tile \(tile) \(name)")
            }
        }
    }

    /// The blocked kernels (packed keys and values, register-tiled products) give the row
    /// kernels' outputs, log-sum-exps and gradients: query blocks with tails, causal and
    /// not, padding, fully masked rows, prefixes broadcast and per row, frozen operands,
    /// on the CPU's product kernels and on the portable ones.
    func testBlockedKernelsMatchRowKernels() {
        struct Case {
            var name: String
            var b = 2, t = 40, s = 40, hq = 6, hkv = 2, d = 64
            var causal = true
            var keyMask: [UInt8]? = nil
            var prefix = 0, prefixBatch = 1
            var prefixMask: [UInt8]? = nil
            var frozen = false
        }
        let padded = [UInt8](repeating: 0, count: 7) + [UInt8](repeating: 1, count: 33) + [UInt8](repeating: 1, count: 40)
        let cases = [
            Case(name: "causal GQA, two blocks with a tail"),
            Case(name: "non-causal, D=16, S > T", t: 9, s: 21, hq: 3, hkv: 3, d: 16, causal: false),
            Case(name: "cache offset, D=32", b: 1, t: 70, s: 75, hq: 4, hkv: 1, d: 32),
            Case(name: "left padding, fully masked early rows", keyMask: padded),
            Case(name: "broadcast prefix with a mask", keyMask: padded, prefix: 20,
                 prefixMask: [UInt8](repeating: 1, count: 20) + [UInt8](repeating: 1, count: 12)
                     + [UInt8](repeating: 0, count: 8)),
            Case(name: "prefix per row, frozen q/k/v", t: 33, s: 33, prefix: 5, prefixBatch: 2, frozen: true),
            Case(name: "every key masked in a row", b: 2, t: 8, s: 8, hq: 2, hkv: 1, d: 16, causal: false,
                 keyMask: [UInt8](repeating: 1, count: 8) + [UInt8](repeating: 0, count: 8)),
        ]
        for portable in [false, true] {
            trimtab_kernels_force_portable(portable ? 1 : 0)
            defer { trimtab_kernels_force_portable(0) }
            for (index, c) in cases.enumerated() {
                let seed = UInt64(500 + 10 * index)
                let q = randomTensor([c.b, c.t, c.hq, c.d], seed: seed), k = randomTensor([c.b, c.s, c.hkv, c.d], seed: seed + 1)
                let v = randomTensor([c.b, c.s, c.hkv, c.d], seed: seed + 2)
                let prefixShape = [c.prefixBatch, c.prefix, c.hkv, c.d]
                let pk = randomTensor(prefixShape, seed: seed + 3), pv = randomTensor(prefixShape, seed: seed + 4)
                let dout = randomTensor([c.b, c.t, c.hq, c.d], seed: seed + 5)
                func run(blocked: Bool) -> [[Float]] {
                    let geometry = AttentionGeometry(batch: c.b, queries: c.t, keys: c.s, queryHeads: c.hq, kvHeads: c.hkv,
                                                     headDim: c.d, prefix: c.prefix, prefixBatch: c.prefixBatch,
                                                     causal: c.causal, scale: 0.2, blocked: blocked)
                    let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [c.b, c.hq, c.t])
                    let grads = [q, k, v, pk, pv].map { Tensor(zeros: $0.shape) }
                    let keyMask = c.keyMask ?? [UInt8](repeating: 1, count: c.b * c.s)
                    let prefixMask = c.prefixMask ?? [UInt8](repeating: 1, count: c.b * c.prefix)
                    keyMask.withUnsafeBufferPointer { km in
                        prefixMask.withUnsafeBufferPointer { pm in
                            let x = AttentionOperands(query: q.floats, key: k.floats, value: v.floats,
                                                      prefixKey: c.prefix > 0 ? UnsafePointer(pk.floats) : nil,
                                                      prefixValue: c.prefix > 0 ? UnsafePointer(pv.floats) : nil,
                                                      keyMask: km.baseAddress, prefixMask: pm.baseAddress)
                            AttentionKernel.forward(out: out.floats, logSumExp: lse.floats, x, geometry)
                            func gradient(_ i: Int, _ wanted: Bool) -> UnsafeMutablePointer<Float>? {
                                wanted ? grads[i].floats : nil
                            }
                            let trainable = AttentionGradients(
                                query: gradient(0, !c.frozen), key: gradient(1, !c.frozen), value: gradient(2, !c.frozen),
                                prefixKey: gradient(3, c.prefix > 0), prefixValue: gradient(4, c.prefix > 0))
                            AttentionKernel.backward(trainable, dout: dout.floats, out: out.floats,
                                                     logSumExp: lse.floats, x, geometry)
                        }
                    }
                    // −∞ (a row that sees no key) compared as a finite stand-in.
                    return [out.scalars, lse.scalars.map { $0 == -.infinity ? -1e30 : $0 }] + grads.map(\.scalars)
                }
                let rows = run(blocked: false), blocks = run(blocked: true)
                for (name, (blocked, reference)) in zip(["out", "lse", "dq", "dk", "dv", "dpk", "dpv"], zip(blocks, rows)) {
                    XCTAssertFalse(blocked.contains { $0.isNaN }, "\(c.name) \(name): NaN")
                    assertClose(blocked, reference, atol: 2e-5, rtol: 1e-4,
                                "\(c.name)\(portable ? " (portable)" : "") \(name)")
                }
            }
        }
    }

    /// Finite differences at a model-like size, where the work splits across threads
    /// (B=2, T=12, 6 query heads over 2 kv heads, D=64, padding, a broadcast prefix).
    func testModelSizedGradients() {
        let (b, t, p, hq, hkv, d) = (2, 12, 5, 6, 2, 64)
        let q = Variable(randomTensor([b, t, hq, d], seed: 71), requiresGrad: true)
        let k = Variable(randomTensor([b, t, hkv, d], seed: 72), requiresGrad: true)
        let v = Variable(randomTensor([b, t, hkv, d], seed: 73), requiresGrad: true)
        let pk = Variable(randomTensor([1, p, hkv, d], seed: 74), requiresGrad: true)
        let pv = Variable(randomTensor([1, p, hkv, d], seed: 75), requiresGrad: true)
        let mask = [UInt8](repeating: 1, count: t) + [UInt8](repeating: 0, count: 4) + [UInt8](repeating: 1, count: t - 4)
        checkGradients("model-sized", inputs: [q, k, v, pk, pv], maxElements: 12) {
            $0.attention(query: q, key: k, value: v, options: AttentionOptions(keyMask: mask, prefixKey: pk, prefixValue: pv))
        }
    }
}
