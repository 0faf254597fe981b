import CDNNL
import Foundation
import Synchronization

/// Matrix products through oneDNN's matmul primitive (Debian `libdnnl-dev`).
///
/// One primitive is created per distinct ``GEMMShape`` (and alpha, beta, element type)
/// and cached; a call only rebinds the three data pointers and executes. Transposes are
/// expressed as memory strides, so no operand is ever copied. `alpha` is an output scale
/// and `beta` a sum post-op, both baked into the cached primitive.
///
/// On AVX-512 machines oneDNN picks its `brg:avx512_core` (f32) and
/// `brg:avx512_core_bf16` / AMX (bf16) kernels; `ONEDNN_VERBOSE=1` shows which. Where
/// oneDNN has no bf16 matmul for the CPU (AVX2-only machines), bf16 products widen their
/// operands to f32 and run the f32 kernel instead.
public final class DNNLBackend: GEMMBackend, @unchecked Sendable {
    public let name = "dnnl"

    private struct Key: Hashable {
        var shape: GEMMShape
        var alpha: Float
        var beta: Float
        var bf16: Bool
    }

    private final class Entry {
        let primitive: dnnl_primitive_t
        let src: dnnl_memory_t
        let weights: dnnl_memory_t
        let dst: dnnl_memory_t
        init(primitive: dnnl_primitive_t, src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t) {
            self.primitive = primitive
            self.src = src
            self.weights = weights
            self.dst = dst
        }
        deinit {
            dnnl_memory_destroy(src)
            dnnl_memory_destroy(weights)
            dnnl_memory_destroy(dst)
            dnnl_primitive_destroy(primitive)
        }
    }

    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    /// Guards the cache and serialises execution (a cached entry's memory objects are
    /// rebound per call).
    private let state = Mutex<[Key: Entry]>([:])
    /// Set once oneDNN has said it has no bf16 matmul on this CPU.
    private let bf16Unavailable = Atomic<Bool>(false)

    public init() {
        var engine: dnnl_engine_t?
        Self.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        var stream: dnnl_stream_t?
        Self.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        state.withLock { $0.removeAll() }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Number of distinct primitives created so far.
    public var cachedPrimitiveCount: Int { state.withLock { $0.count } }

    public func sgemm(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                      beta: Float, c: UnsafeMutablePointer<Float>) {
        if shape.k == 0 {
            scaleC(shape, beta: beta, c: c)
            return
        }
        run(Key(shape: shape, alpha: alpha, beta: beta, bf16: false),
            UnsafeMutableRawPointer(mutating: a), UnsafeMutableRawPointer(mutating: b), UnsafeMutableRawPointer(c))
    }

    public func gemmBF16(_ shape: GEMMShape, alpha: Float, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>,
                         beta: Float, c: UnsafeMutablePointer<Float>) {
        if shape.k == 0 {
            scaleC(shape, beta: beta, c: c)
            return
        }
        if !bf16Unavailable.load(ordering: .relaxed),
           run(Key(shape: shape, alpha: alpha, beta: beta, bf16: true),
               UnsafeMutableRawPointer(mutating: a), UnsafeMutableRawPointer(mutating: b), UnsafeMutableRawPointer(c)) {
            return
        }
        widenedGEMM(self, shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
    }

    /// Runs the product; false when oneDNN has no implementation for it (bf16 only).
    @discardableResult
    private func run(_ key: Key, _ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer,
                     _ c: UnsafeMutableRawPointer) -> Bool {
        state.withLock { cache in
            let entry: Entry
            if let found = cache[key] {
                entry = found
            } else {
                guard let made = makeEntry(key) else {
                    bf16Unavailable.store(true, ordering: .relaxed)
                    return false
                }
                entry = made
                cache[key] = entry
            }
            Self.check(dnnl_memory_set_data_handle_v2(entry.src, a, stream), "set_data_handle(src)")
            Self.check(dnnl_memory_set_data_handle_v2(entry.weights, b, stream), "set_data_handle(weights)")
            Self.check(dnnl_memory_set_data_handle_v2(entry.dst, c, stream), "set_data_handle(dst)")
            var args = [
                dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: entry.src),
                dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: entry.weights),
                dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: entry.dst),
            ]
            Self.check(dnnl_primitive_execute(entry.primitive, stream, Int32(args.count), &args), "execute")
            Self.check(dnnl_stream_wait(stream), "stream_wait")
            return true
        }
    }

    /// Describes a (batch, rows, cols) operand whose logical layout is `rows × cols`,
    /// stored row-major with leading dimension `ld`, or transposed (`cols × rows` stored).
    private func describe(batch: Int, batchStride: Int, rows: Int, cols: Int, ld: Int, transposed: Bool,
                          type: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var desc = dnnl_memory_desc_t()
        let broadcast = batchStride == 0 && batch > 1
        let rowStride = transposed ? 1 : ld
        let colStride = transposed ? ld : 1
        // Arrays, not `&tuple.0`: a pointer to one tuple element is only valid for that
        // element, and the optimizer may drop stores to the others (it does in -O builds).
        let dims = [broadcast ? 1 : batch, rows, cols].map { dnnl_dim_t($0) }
        let strides = [broadcast ? rows * cols : max(batchStride, 1), rowStride, colStride].map { dnnl_dim_t($0) }
        Self.check(dnnl_memory_desc_init_by_strides(&desc, 3, dims, type, strides), "memory_desc_init")
        return desc
    }

    /// The cached primitive for `key`; nil when oneDNN has no bf16 matmul on this CPU.
    private func makeEntry(_ key: Key) -> Entry? {
        let s = key.shape
        let inType = key.bf16 ? dnnl_bf16 : dnnl_f32
        var src = describe(batch: s.batch, batchStride: s.strideA, rows: s.m, cols: s.k, ld: s.lda,
                           transposed: s.transA, type: inType)
        var weights = describe(batch: s.batch, batchStride: s.strideB, rows: s.k, cols: s.n, ld: s.ldb,
                               transposed: s.transB, type: inType)
        var dst = describe(batch: s.batch, batchStride: s.strideC, rows: s.m, cols: s.n, ld: s.ldc,
                           transposed: false, type: dnnl_f32)
        var matmul = dnnl_matmul_desc_t()
        Self.check(dnnl_matmul_desc_init(&matmul, &src, &weights, nil, &dst), "matmul_desc_init")

        var attr: dnnl_primitive_attr_t?
        Self.check(dnnl_primitive_attr_create(&attr), "attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if key.alpha != 1 {
            var alpha = key.alpha
            Self.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "set_output_scales")
        }
        if key.beta != 0 {
            var ops: dnnl_post_ops_t?
            Self.check(dnnl_post_ops_create(&ops), "post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            Self.check(dnnl_post_ops_append_sum(ops, key.beta), "append_sum")
            Self.check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
        }
        var descriptor: dnnl_primitive_desc_t?
        let status = dnnl_primitive_desc_create(&descriptor, &matmul, attr, engine, nil)
        if key.bf16 && status == dnnl_unimplemented { return nil }
        Self.check(status, "primitive_desc_create \(s)")
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var primitive: dnnl_primitive_t?
        Self.check(dnnl_primitive_create(&primitive, descriptor), "primitive_create")

        func memory(_ desc: inout dnnl_memory_desc_t) -> dnnl_memory_t {
            var mem: dnnl_memory_t?
            // DNNL_MEMORY_NONE: the handle is bound on every call.
            Self.check(dnnl_memory_create(&mem, &desc, engine, nil), "memory_create")
            return mem!
        }
        return Entry(primitive: primitive!, src: memory(&src), weights: memory(&weights), dst: memory(&dst))
    }

    private static func check(_ status: dnnl_status_t, _ what: String) {
        precondition(status == dnnl_success, "oneDNN \(what) failed with status \(status.rawValue)")
    }
}
