import CDNNL
import TrimtabTensor

/// One oneDNN matmul built straight from the C API, bound to fixed buffers.
///
/// The baseline the GEMM benchmark holds ``DNNLBackend`` against: the primitive, its
/// memory objects and the argument list are made once, so ``execute()`` is exactly
/// `dnnl_primitive_execute` + `dnnl_stream_wait` — whatever the wrapper spends beyond
/// that (cache lookup, locking, rebinding handles) shows up as the wrapper/raw ratio.
/// Layouts follow ``GEMMShape`` (row-major, transposes as strides), `alpha` is an output
/// scale and `beta` a sum post-op, as in the backend.
final class RawDNNLMatmul {
    /// The kernel oneDNN chose (`brg:avx512_core`, `gemm:jit`, …), as `ONEDNN_VERBOSE` names it.
    let implementation: String
    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private let primitive: dnnl_primitive_t
    private let memories: [dnnl_memory_t]
    private var args: [dnnl_exec_arg_t]

    /// Builds the primitive for `C = alpha · op(A) · op(B) + beta · C` over single
    /// (unbatched) matrices; `bf16` selects bf16 A and B (C stays f32).
    init(_ shape: GEMMShape, alpha: Float, beta: Float, bf16: Bool,
         a: UnsafeRawPointer, b: UnsafeRawPointer, c: UnsafeMutableRawPointer) {
        precondition(shape.batch == 1, "RawDNNLMatmul: batched shapes are not benchmarked")
        var engine: dnnl_engine_t?
        Self.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        var stream: dnnl_stream_t?
        Self.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        let cpu = engine!
        self.engine = cpu
        self.stream = stream!

        let inType = bf16 ? dnnl_bf16 : dnnl_f32
        var src = Self.matrix(rows: shape.m, cols: shape.k, ld: shape.lda, transposed: shape.transA, type: inType)
        var weights = Self.matrix(rows: shape.k, cols: shape.n, ld: shape.ldb, transposed: shape.transB, type: inType)
        var dst = Self.matrix(rows: shape.m, cols: shape.n, ld: shape.ldc, transposed: false, type: dnnl_f32)
        var matmul = dnnl_matmul_desc_t()
        Self.check(dnnl_matmul_desc_init(&matmul, &src, &weights, nil, &dst), "matmul_desc_init")

        var attr: dnnl_primitive_attr_t?
        Self.check(dnnl_primitive_attr_create(&attr), "attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if alpha != 1 {
            var scale = alpha
            Self.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "set_output_scales")
        }
        if beta != 0 {
            var ops: dnnl_post_ops_t?
            Self.check(dnnl_post_ops_create(&ops), "post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            Self.check(dnnl_post_ops_append_sum(ops, beta), "append_sum")
            Self.check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
        }
        var descriptor: dnnl_primitive_desc_t?
        Self.check(dnnl_primitive_desc_create(&descriptor, &matmul, attr, cpu, nil), "primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var implementation: UnsafePointer<CChar>?
        Self.check(dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &implementation),
                   "query(impl_info_str)")
        self.implementation = implementation.map { String(cString: $0) } ?? "?"
        var primitive: dnnl_primitive_t?
        Self.check(dnnl_primitive_create(&primitive, descriptor), "primitive_create")
        self.primitive = primitive!

        func memory(_ desc: inout dnnl_memory_desc_t, _ handle: UnsafeRawPointer) -> dnnl_memory_t {
            var mem: dnnl_memory_t?
            Self.check(dnnl_memory_create(&mem, &desc, cpu, UnsafeMutableRawPointer(mutating: handle)),
                       "memory_create")
            return mem!
        }
        memories = [memory(&src, a), memory(&weights, b), memory(&dst, c)]
        args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memories[0]),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memories[1]),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memories[2]),
        ]
    }

    deinit {
        for memory in memories { dnnl_memory_destroy(memory) }
        dnnl_primitive_destroy(primitive)
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Runs the product once and waits for it.
    @inline(__always)
    func execute() {
        Self.check(dnnl_primitive_execute(primitive, stream, Int32(args.count), &args), "execute")
        Self.check(dnnl_stream_wait(stream), "stream_wait")
    }

    /// A `rows × cols` operand stored row-major with leading dimension `ld`, or its
    /// transpose (`cols × rows` stored), as a 2-D strided descriptor.
    private static func matrix(rows: Int, cols: Int, ld: Int, transposed: Bool,
                               type: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var desc = dnnl_memory_desc_t()
        // Arrays, not `&tuple.0`: a pointer to one tuple element need not see the others.
        let dims = [dnnl_dim_t(rows), dnnl_dim_t(cols)]
        let strides = transposed ? [1, dnnl_dim_t(ld)] : [dnnl_dim_t(ld), 1]
        check(dnnl_memory_desc_init_by_strides(&desc, 2, dims, type, strides), "memory_desc_init")
        return desc
    }

    private static func check(_ status: dnnl_status_t, _ what: String) {
        precondition(status == dnnl_success, "oneDNN \(what) failed with status \(status.rawValue)")
    }
}
