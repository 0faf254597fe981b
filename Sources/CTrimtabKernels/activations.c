// SwiGLU, the gated activation of Llama-family FFNs; see CTrimtabKernels.h.
//
// In Swift the per-vector closure of the elementwise helpers was called out of line with
// its 16-lane operands passed through memory, and the exponential's clamps lowered to
// 128-bit pieces: the forward ran at ~6 GB/s and the backward at ~8 where the machine
// streams ~10. Here each lane computes, with σ(g) = 1 / (1 + e⁻ᵍ) and 1 − σ(g) = e⁻ᵍ σ(g)
// (never a difference of numbers near 1):
//   out = g σ(g) u        dg += dout · u · σ(g) (1 + g (1 − σ(g)))        du += dout · g σ(g)
// (each gradient is stored instead of added when it has no earlier contribution).
// Training over bf16 weights may keep g and u for backward as bf16 (half the memory): the
// forward then also writes their rounded copies, and the backward reads those.

#include "CTrimtabKernels.h"
#include "vector.h"

// σ(g) and e⁻ᵍ.
#define SIGMOID(g, s, e)                                                                   \
    v16 minus_ = -(g), e;                                                                  \
    EXP_BODY(minus_, e);                                                                   \
    v16 s = 1.0f / (1.0f + e);

// KEEP stores what backward keeps besides: nothing, or gate and up rounded to bf16.
#define KEEP_NOTHING(i, lanes, g, u)
#define KEEP_BF16(i, lanes, g, u)                                                          \
    STORE_BF16(kept_gate, i, lanes, g);                                                    \
    STORE_BF16(kept_up, i, lanes, u);
#define FORWARD_BODY(KEEP, i, lanes)                                                       \
    {                                                                                      \
        v16 g = LOAD(gate, i, lanes), u = LOAD(up, i, lanes);                              \
        SIGMOID(g, s, e)                                                                   \
        (void)e;                                                                           \
        v16 y = g * s * u;                                                                 \
        STORE(out, i, lanes, y);                                                           \
        if (rounded) STORE_BF16(rounded, i, lanes, y);                                     \
        KEEP(i, lanes, g, u)                                                               \
    }
#define FORWARD_CHUNK(i, lanes) FORWARD_BODY(KEEP_NOTHING, i, lanes)
#define FORWARD_KEEPING_CHUNK(i, lanes) FORWARD_BODY(KEEP_BF16, i, lanes)

// LOADER reads gate and up: LOAD (f32) or LOAD_BF16.
#define BACKWARD_BODY(LOADER, i, lanes)                                                    \
    {                                                                                      \
        v16 g = LOADER(gate, i, lanes), dy = LOAD(dout, i, lanes);                         \
        SIGMOID(g, s, e)                                                                   \
        if (dgate) {                                                                       \
            v16 u = LOADER(up, i, lanes);                                                  \
            v16 d = dy * u * s * (1.0f + g * (e * s));                                     \
            STORE(dgate, i, lanes, accumulate_gate ? LOAD(dgate, i, lanes) + d : d);       \
        }                                                                                  \
        if (dup) {                                                                         \
            v16 d = dy * g * s;                                                            \
            STORE(dup, i, lanes, accumulate_up ? LOAD(dup, i, lanes) + d : d);             \
        }                                                                                  \
    }
#define BACKWARD_CHUNK(i, lanes) BACKWARD_BODY(LOAD, i, lanes)
#define BACKWARD_BF16_CHUNK(i, lanes) BACKWARD_BODY(LOAD_BF16, i, lanes)

#define SWIGLU_FUNCTIONS(SUFFIX, TARGET)                                                   \
    TARGET static void forward_##SUFFIX(float *out, uint16_t *rounded, const float *gate, const float *up, \
                                        long count) {                                      \
        FOR_CHUNKS(count, FORWARD_CHUNK);                                                  \
    }                                                                                      \
    TARGET static void backward_##SUFFIX(float *dgate, float *dup, const float *dout, const float *gate, \
                                         const float *up, long count, int accumulate_gate,  \
                                         int accumulate_up) {                              \
        FOR_CHUNKS(count, BACKWARD_CHUNK);                                                 \
    }                                                                                      \
    TARGET static void forward_keeping_##SUFFIX(float *out, uint16_t *rounded, const float *gate, const float *up, \
                                                uint16_t *kept_gate, uint16_t *kept_up, long count) { \
        FOR_CHUNKS(count, FORWARD_KEEPING_CHUNK);                                          \
    }                                                                                      \
    TARGET static void backward_bf16_##SUFFIX(float *dgate, float *dup, const float *dout,  \
                                              const uint16_t *gate, const uint16_t *up, long count, \
                                              int accumulate_gate, int accumulate_up) {    \
        FOR_CHUNKS(count, BACKWARD_BF16_CHUNK);                                            \
    }

SWIGLU_FUNCTIONS(portable, )
#if defined(__x86_64__)
SWIGLU_FUNCTIONS(avx2, TARGET_AVX2)
SWIGLU_FUNCTIONS(avx512, TARGET_AVX512)
#endif

void trimtab_swiglu_forward(float *out, uint16_t *rounded, const float *gate, const float *up, long count) {
    DISPATCH(forward, out, rounded, gate, up, count)
}

void trimtab_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             long count, int accumulate_gate, int accumulate_up) {
    DISPATCH(backward, dgate, dup, dout, gate, up, count, accumulate_gate, accumulate_up)
}

void trimtab_swiglu_forward_keeping_bf16(float *out, uint16_t *rounded, const float *gate, const float *up,
                                         uint16_t *kept_gate, uint16_t *kept_up, long count) {
    DISPATCH(forward_keeping, out, rounded, gate, up, kept_gate, kept_up, count)
}

void trimtab_swiglu_backward_bf16(float *dgate, float *dup, const float *dout, const uint16_t *gate,
                                  const uint16_t *up, long count, int accumulate_gate, int accumulate_up) {
    DISPATCH(backward_bf16, dgate, dup, dout, gate, up, count, accumulate_gate, accumulate_up)
}
