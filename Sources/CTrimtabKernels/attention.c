// Attention's kernels: small f32 matrix products and softmax rows; see CTrimtabKernels.h.
//
// Attention's products are many small ones: per (batch row, head) and block of 32 queries,
// a [32 × D] by [D × W] score product, a [32 × W] by [W × D] weighted sum, and in backward
// three more, two of them with a transposed left operand. A BLAS call per block costs more
// in set-up than the block's arithmetic (oneDNN's batched sgemm took as long for the two
// forward products as our whole row-by-row forward), and the row-by-row loops load two
// operands per multiply-add. Here a register tile of C (up to 8 rows × 32 columns) stays
// in registers over the whole k loop: each step loads one row of B (two vectors) and
// broadcasts one element of A per tile row, so 16 multiply-adds cost 10 loads. A's
// elements are reached through a row and a column stride, which covers A and Aᵀ alike;
// B's rows and C's rows are contiguous (columns a multiple of 16) with a row stride.
//
// Softmax rows (maximum, exponentials, sum, scaling) run here too: Swift's 16-lane SIMD
// type lowers compare-and-select to 128-bit pieces and stack round trips, which made the
// exponentials cost a third of attention's time.
//
// Every body is written once with the compiler's 16-lane vector type and compiled three
// times: for AVX-512 (8 × 32 product tiles in 16 of the 32 zmm registers), for AVX2 + FMA
// (6 × 16 tiles: 6 pairs of ymm registers of 16), and portably (4 × 16), the first the CPU
// supports chosen at run time.

#include "CTrimtabKernels.h"
#include "vector.h"

#include <math.h>
#include <string.h>

// One tile of C: rows [0, MR) × columns [0, 16·NC), over the whole k loop.
#define TILE_BODY(MR, NC)                                                                  \
    v16 acc[MR][NC];                                                                       \
    for (int i = 0; i < MR; i++)                                                           \
        for (int c = 0; c < NC; c++) acc[i][c] = (v16){0};                                 \
    for (long p = 0; p < k; p++) {                                                         \
        const float *bp = b + p * b_row_stride;                                            \
        v16 bv[NC];                                                                        \
        for (int c = 0; c < NC; c++) bv[c] = *(const v16 *)(bp + 16 * c);                 \
        const float *ap = a + p * a_col_stride;                                            \
        for (int i = 0; i < MR; i++) {                                                     \
            float s = ap[i * a_row_stride];                                                \
            for (int c = 0; c < NC; c++) acc[i][c] += s * bv[c];                           \
        }                                                                                  \
    }                                                                                      \
    for (int i = 0; i < MR; i++)                                                           \
        for (int c = 0; c < NC; c++) {                                                     \
            v16 *cp = (v16 *)(out + i * out_row_stride + 16 * c);                          \
            *cp = accumulate ? *cp + alpha * acc[i][c] : alpha * acc[i][c];                \
        }

#define TILE_PARAMETERS                                                                    \
    long k, const float *a, long a_row_stride, long a_col_stride, const float *b,          \
        long b_row_stride, float alpha, float *out, long out_row_stride, int accumulate
#define TILE_ARGUMENTS k, ai, a_row_stride, a_col_stride, b + j, b_row_stride, alpha, ci + j, out_row_stride, accumulate

#define DEFINE_TILE(MR, NC) \
    ALWAYS_INLINE void tile_##MR##x##NC(TILE_PARAMETERS) { TILE_BODY(MR, NC) }

DEFINE_TILE(8, 2) DEFINE_TILE(7, 2) DEFINE_TILE(6, 2) DEFINE_TILE(5, 2)
DEFINE_TILE(4, 2) DEFINE_TILE(3, 2) DEFINE_TILE(2, 2) DEFINE_TILE(1, 2)
DEFINE_TILE(8, 1) DEFINE_TILE(7, 1) DEFINE_TILE(6, 1) DEFINE_TILE(5, 1)
DEFINE_TILE(4, 1) DEFINE_TILE(3, 1) DEFINE_TILE(2, 1) DEFINE_TILE(1, 1)

// Calls the tile of `mr` rows (1 ≤ mr ≤ 8) and NC column vectors.
#define TILE_SWITCH(NC)                                                                    \
    switch (mr) {                                                                          \
    case 8: tile_8x##NC(TILE_ARGUMENTS); break;                                            \
    case 7: tile_7x##NC(TILE_ARGUMENTS); break;                                            \
    case 6: tile_6x##NC(TILE_ARGUMENTS); break;                                            \
    case 5: tile_5x##NC(TILE_ARGUMENTS); break;                                            \
    case 4: tile_4x##NC(TILE_ARGUMENTS); break;                                            \
    case 3: tile_3x##NC(TILE_ARGUMENTS); break;                                            \
    case 2: tile_2x##NC(TILE_ARGUMENTS); break;                                            \
    default: tile_1x##NC(TILE_ARGUMENTS); break;                                           \
    }

// C in tiles of up to MR_MAX rows; columns 32 at a time when WIDE, then 16 at a time.
#define GEMM_BODY(MR_MAX, WIDE)                                                            \
    for (long i = 0; i < m; i += MR_MAX) {                                                 \
        long mr = m - i < MR_MAX ? m - i : MR_MAX;                                         \
        const float *ai = a + i * a_row_stride;                                            \
        float *ci = out + i * out_row_stride;                                              \
        long j = 0;                                                                        \
        if (WIDE)                                                                          \
            for (; j + 32 <= n; j += 32) { TILE_SWITCH(2) }                                \
        for (; j < n; j += 16) { TILE_SWITCH(1) }                                          \
    }

#define GEMM_PARAMETERS                                                                    \
    long m, long n, long k, const float *a, long a_row_stride, long a_col_stride,          \
        const float *b, long b_row_stride, float alpha, float *out, long out_row_stride,   \
        int accumulate

static void gemm_portable(GEMM_PARAMETERS) { GEMM_BODY(4, 0) }

// The 16-lane chunks of p[0, count), with `fill` in the lanes past `count`: when p has
// room for whole vectors (`room` ≥ count rounded up to 16) the fill is written into p
// and stays there; otherwise the last chunk goes through a buffer. BODY sees `v`
// (in/out) and runs for every chunk.
#define CHUNKS(p, count, room, fill, BODY)                                                 \
    do {                                                                                   \
        long padded_ = ((count) + 15) / 16 * 16, whole_ = padded_;                          \
        if ((room) >= padded_) {                                                           \
            for (long j_ = (count); j_ < padded_; j_++) (p)[j_] = (fill);                  \
        } else {                                                                           \
            whole_ = (count) / 16 * 16;                                                    \
        }                                                                                  \
        for (long i_ = 0; i_ < whole_; i_ += 16) {                                         \
            v16 v = *(v16 *)((p) + i_);                                                    \
            BODY;                                                                          \
            *(v16 *)((p) + i_) = v;                                                        \
        }                                                                                  \
        if (whole_ < (count)) {                                                            \
            float tail_[16];                                                               \
            for (long j_ = 0; j_ < 16; j_++) tail_[j_] = whole_ + j_ < (count) ? (p)[whole_ + j_] : (fill); \
            v16 v = *(v16 *)tail_;                                                         \
            BODY;                                                                          \
            *(v16 *)tail_ = v;                                                             \
            for (long j_ = 0; whole_ + j_ < (count); j_++) (p)[whole_ + j_] = tail_[j_];   \
        }                                                                                  \
    } while (0)

// p[i] = exp(p[i] − shift) for i < count, 0 for count ≤ i < end; returns Σ p[i]. The
// −∞ fill exponentiates to the zeros the lanes past `count` need.
#define EXP_ROW_BODY                                                                       \
    v16 total = {0};                                                                       \
    CHUNKS(p, count, end, -INFINITY, {                                                     \
        v16 x = v - shift;                                                                 \
        EXP_BODY(x, v);                                                                    \
        total += v;                                                                        \
    });                                                                                    \
    long written = end >= (count + 15) / 16 * 16 ? (count + 15) / 16 * 16 : count;          \
    if (end > written) memset(p + written, 0, sizeof(float) * (size_t)(end - written));    \
    float sum = 0;                                                                         \
    for (int i = 0; i < 16; i++) sum += total[i];                                          \
    return sum;

// The largest of p[0, count), count > 0 (may write −∞ into p[count, room)).
#define MAX_ROW_BODY                                                                       \
    v16 best = (v16){0} - INFINITY;                                                        \
    CHUNKS(p, count, room, -INFINITY, { best = SELECT(v > best, v, best); });              \
    float m = best[0];                                                                     \
    for (int i = 1; i < 16; i++) m = best[i] > m ? best[i] : m;                            \
    return m;

// p[i] *= factor for i < count (and for the zeros up to `room`).
#define SCALE_ROW_BODY CHUNKS(p, count, room, 0.0f, { v *= factor; });

#define ROW_FUNCTIONS(SUFFIX, TARGET)                                                      \
    TARGET static float exp_row_##SUFFIX(float *p, long count, long end, float shift) { EXP_ROW_BODY } \
    TARGET static float max_row_##SUFFIX(float *p, long count, long room) { MAX_ROW_BODY } \
    TARGET static void scale_row_##SUFFIX(float *p, long count, long room, float factor) { SCALE_ROW_BODY } \
    TARGET static float softmax_row_##SUFFIX(float *p, long count, long end, float factor) { \
        float m = max_row_##SUFFIX(p, count, end);                                         \
        float total = exp_row_##SUFFIX(p, count, end, m);                                  \
        scale_row_##SUFFIX(p, count, end, factor / total);                                 \
        return m + logf(total);                                                            \
    }

ROW_FUNCTIONS(portable, )

#if defined(__x86_64__)
TARGET_AVX2 static void gemm_avx2(GEMM_PARAMETERS) { GEMM_BODY(6, 0) }
TARGET_AVX512 static void gemm_avx512(GEMM_PARAMETERS) { GEMM_BODY(8, 1) }
ROW_FUNCTIONS(avx2, TARGET_AVX2)
ROW_FUNCTIONS(avx512, TARGET_AVX512)
#endif

void trimtab_sgemm_small(long m, long n, long k, const float *a, long a_row_stride, long a_col_stride,
                         const float *b, long b_row_stride, float alpha, float *out, long out_row_stride,
                         int accumulate) {
    DISPATCH(gemm, m, n, k, a, a_row_stride, a_col_stride, b, b_row_stride, alpha, out, out_row_stride, accumulate)
}

float trimtab_exp_row(float *p, long count, long end, float shift) { DISPATCH(exp_row, p, count, end, shift) }

float trimtab_softmax_row(float *p, long count, long end) { DISPATCH(softmax_row, p, count, end, 1.0f) }

float trimtab_scaled_softmax_row(float *p, long count, long end, float factor) {
    DISPATCH(softmax_row, p, count, end, factor)
}
