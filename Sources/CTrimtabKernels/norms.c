// RMSNorm over rows; see CTrimtabKernels.h and TrimtabTensor's Kernels/RMSNorm.swift.
//
// The Swift loops summed each row into one Double, an add chain the compiler may not
// reorder: ~4 cycles an element, so the 61 norms of a SmolLM2 forward took ~10 ms of a
// ~400 ms bf16 prefill. Here each row's sums run in 16 Double lanes (two 8-lane halves of
// each 16-float vector), added up at the end of the row: the same Double accumulation,
// in a different order.

#include "CTrimtabKernels.h"
#include "vector.h"

typedef double v8d __attribute__((vector_size(64), aligned(8)));

#define LOW_HALF(v) __builtin_convertvector(__builtin_shufflevector((v), (v), 0, 1, 2, 3, 4, 5, 6, 7), v8d)
#define HIGH_HALF(v)                                                                       \
    __builtin_convertvector(__builtin_shufflevector((v), (v), 8, 9, 10, 11, 12, 13, 14, 15), v8d)

// acc_lo, acc_hi += widened(a) · widened(b) (products in Double).
#define ACCUMULATE_PRODUCT(a, b)                                                           \
    {                                                                                      \
        v16 a_ = (a), b_ = (b);                                                            \
        acc_lo += LOW_HALF(a_) * LOW_HALF(b_);                                             \
        acc_hi += HIGH_HALF(a_) * HIGH_HALF(b_);                                           \
    }

#define SUM_LANES(result)                                                                  \
    {                                                                                      \
        v8d s_ = acc_lo + acc_hi;                                                          \
        (result) = ((s_[0] + s_[4]) + (s_[1] + s_[5])) + ((s_[2] + s_[6]) + (s_[3] + s_[7])); \
    }

#define SQUARES_CHUNK(i, lanes)                                                            \
    {                                                                                      \
        v16 v = LOAD(x, i, lanes);                                                         \
        ACCUMULATE_PRODUCT(v, v)                                                           \
    }
#define NORMALIZE_CHUNK(i, lanes)                                                          \
    {                                                                                      \
        v16 y = (LOAD(x, i, lanes) * s) * (LOAD(weight, i, lanes) + offset);               \
        STORE(y_row, i, lanes, y);                                                         \
        if (rounded_row) STORE_BF16(rounded_row, i, lanes, y);                             \
    }
// Σ dy·g·x with all three factors widened first, as the Swift loop did.
#define DOT_CHUNK(i, lanes)                                                                \
    {                                                                                      \
        v16 g = LOAD(weight, i, lanes) + offset, d = LOAD(dy, i, lanes), v = LOAD(x, i, lanes); \
        acc_lo += LOW_HALF(d) * LOW_HALF(g) * LOW_HALF(v);                                 \
        acc_hi += HIGH_HALF(d) * HIGH_HALF(g) * HIGH_HALF(v);                              \
    }
#define DINP_CHUNK(i, lanes)                                                               \
    {                                                                                      \
        v16 g = LOAD(weight, i, lanes) + offset;                                           \
        v16 d = s * (LOAD(dy, i, lanes) * g - LOAD(x, i, lanes) * c);                      \
        STORE(dx, i, lanes, LOAD(dx, i, lanes) + d);                                       \
    }
// The weight gradient's partial sums, one Double per column.
#define DWEIGHT_CHUNK(i, lanes)                                                            \
    {                                                                                      \
        v16 p = LOAD(dy, i, lanes) * (LOAD(x, i, lanes) * s);                              \
        double *w_ = dweight + (i);                                                        \
        for (long j = 0; j < (lanes); j++) w_[j] += (double)p[j];                          \
    }

#define RMSNORM_FUNCTIONS(SUFFIX, TARGET)                                                  \
    TARGET static void forward_##SUFFIX(float *out, uint16_t *rounded, float *rstd, const float *inp, \
                                        const float *weight, long rows, long dim, float eps, float offset) { \
        for (long r = 0; r < rows; r++) {                                                  \
            const float *x = inp + r * dim;                                                \
            v8d acc_lo = {0}, acc_hi = {0};                                                \
            FOR_CHUNKS(dim, SQUARES_CHUNK);                                                \
            double sum;                                                                    \
            SUM_LANES(sum);                                                                \
            float s = (float)(1.0 / __builtin_sqrt(sum / (double)dim + (double)eps));      \
            rstd[r] = s;                                                                   \
            float *y_row = out + r * dim;                                                  \
            uint16_t *rounded_row = rounded ? rounded + r * dim : 0;                       \
            FOR_CHUNKS(dim, NORMALIZE_CHUNK);                                              \
        }                                                                                  \
    }                                                                                      \
    TARGET static void backward_##SUFFIX(float *dinp, double *dweight, const float *dout, const float *inp, \
                                         const float *weight, const float *rstd, long rows, long dim, \
                                         float offset) {                                   \
        for (long r = 0; r < rows; r++) {                                                  \
            const float *x = inp + r * dim, *dy = dout + r * dim;                          \
            float s = rstd[r];                                                             \
            if (dinp) {                                                                    \
                float *dx = dinp + r * dim;                                                \
                v8d acc_lo = {0}, acc_hi = {0};                                            \
                FOR_CHUNKS(dim, DOT_CHUNK);                                                \
                double dot;                                                                \
                SUM_LANES(dot);                                                            \
                float c = (float)((double)s * (double)s * dot / (double)dim);              \
                FOR_CHUNKS(dim, DINP_CHUNK);                                               \
            }                                                                              \
            if (dweight) { FOR_CHUNKS(dim, DWEIGHT_CHUNK); }                               \
        }                                                                                  \
    }

RMSNORM_FUNCTIONS(portable, )
#if defined(__x86_64__)
RMSNORM_FUNCTIONS(avx2, TARGET_AVX2)
RMSNORM_FUNCTIONS(avx512, TARGET_AVX512)
#endif

void trimtab_rmsnorm_forward(float *out, uint16_t *rounded, float *rstd, const float *inp, const float *weight,
                             long rows, long dim, float eps, float offset) {
    DISPATCH(forward, out, rounded, rstd, inp, weight, rows, dim, eps, offset)
}

void trimtab_rmsnorm_backward(float *dinp, double *dweight, const float *dout, const float *inp,
                              const float *weight, const float *rstd, long rows, long dim, float offset) {
    DISPATCH(backward, dinp, dweight, dout, inp, weight, rstd, rows, dim, offset)
}
