// Kernels written in C for instructions Swift cannot name: the integer dot products of
// quantised weight blocks with 16-bit activations (AVX2's vpmaddwd), used by
// TrimtabTensor's QuantizedMatrix, register-tiled small f32 products and softmax rows for
// attention, SwiGLU, and the rounding of activations to bf16. Every function has a
// portable fallback; the AVX2 code runs only where the CPU reports AVX2, FMA and F16C,
// the AVX-512 code only where it also reports AVX-512F.
#ifndef CTRIMTAB_KERNELS_H
#define CTRIMTAB_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ggml's 32-element block formats with a product kernel.
typedef enum {
    TRIMTAB_Q4_0 = 0,  ///< 18 bytes: f16 d, 16 bytes of nibbles; w = d * (q - 8)
    TRIMTAB_Q4_1 = 1,  ///< 20 bytes: f16 d, f16 m, 16 bytes of nibbles; w = d * q + m
    TRIMTAB_Q8_0 = 2,  ///< 34 bytes: f16 d, 32 int8; w = d * q
} trimtab_block_format;

/// Scales `columns` floats (a multiple of 32) to 16-bit integers per 32-element block:
/// `scale[b] = max|x| / 32767`, `q = round(x / scale[b])` (ties to even), and
/// `sum[b] = scale[b] * Σ q` over the block (the block's sum as the integers give it).
void trimtab_quantize_activations(const float *x, long columns, int16_t *q, float *scale, float *sum);

/// `out[r * out_stride + n] = Σ_k W[n, k] · x̂[r, k]` for weight rows `n` in
/// `[first_row, end_row)` and input rows `r < input_rows` (1…8), where W is dequantised
/// from its blocks (rows of `columns / 32` blocks, back to back from `weights`) and x̂ is
/// the activation row as `trimtab_quantize_activations` gives it (`q`, `scale`, `sum` of row r at
/// offsets `r * columns`, `r * columns / 32`, `r * columns / 32`). Each block's product is
/// an exact integer; only the per-block scaling and the sum over blocks round.
void trimtab_block_product(trimtab_block_format format, const uint8_t *weights, long columns,
                           long first_row, long end_row, const int16_t *q, const float *scale,
                           const float *sum, int input_rows, float *out, long out_stride);

/// `out[i·out_row_stride + j] (+)= alpha · Σ_p A[i][p] · B[p·b_row_stride + j]` for
/// `i < m`, `j < n`, `p < k`, where `A[i][p] = a[i·a_row_stride + p·a_col_stride]` (so A or
/// its transpose), accumulating into `out` when `accumulate` is nonzero and overwriting it
/// otherwise. `n` must be a multiple of 16; rows of B and of `out` are read and written
/// 16 floats at a time without alignment requirements.
void trimtab_sgemm_small(long m, long n, long k, const float *a, long a_row_stride, long a_col_stride,
                         const float *b, long b_row_stride, float alpha, float *out, long out_row_stride,
                         int accumulate);

/// `p[i] = exp(p[i] − shift)` for `i < count` and `p[i] = 0` for `count ≤ i < end`;
/// returns `Σ p[i]`. Exponentials below e^−87.3 are 0 (so −∞ gives 0). Runs in whole
/// vectors when `end` reaches `count` rounded up to a multiple of 16.
float trimtab_exp_row(float *p, long count, long end, float shift);

/// A softmax row in place: `p[i] = exp(p[i] − L)` for `i < count` (`count > 0`) and
/// `p[i] = 0` for `count ≤ i < end`, where `L = log Σ exp p[i]`; returns `L`.
float trimtab_softmax_row(float *p, long count, long end);

/// `factor` times the softmax row, in place (`p[i] = factor · exp(p[i] − L)`), as
/// `trimtab_softmax_row`; returns `L`. The cross-entropy gradient of a row of logits.
float trimtab_scaled_softmax_row(float *p, long count, long end, float factor);

/// `out[i] = silu(gate[i]) · up[i]` for `i < count`, `silu(g) = g σ(g)`; when `rounded` is
/// not NULL, `out` rounded to bf16 (as `trimtab_f32_to_bf16`) goes there too.
void trimtab_swiglu_forward(float *out, uint16_t *rounded, const float *gate, const float *up, long count);

/// SwiGLU's gradients for `i < count`: `dgate[i] += dout · up · silu'(gate)` and
/// `dup[i] += dout · silu(gate)`, or `=` where `accumulate_gate` / `accumulate_up` is 0
/// (the buffer's contents are then not read); either may be NULL (not computed).
void trimtab_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             long count, int accumulate_gate, int accumulate_up);

/// `trimtab_swiglu_forward` that also stores `gate` and `up` rounded to bf16 (as
/// `trimtab_f32_to_bf16`) in `kept_gate` and `kept_up`, for a backward that keeps them so.
void trimtab_swiglu_forward_keeping_bf16(float *out, uint16_t *rounded, const float *gate, const float *up,
                                         uint16_t *kept_gate, uint16_t *kept_up, long count);

/// `trimtab_swiglu_backward` from bf16 `gate` and `up` (widened exactly to f32).
void trimtab_swiglu_backward_bf16(float *dgate, float *dup, const float *dout, const uint16_t *gate,
                                  const uint16_t *up, long count, int accumulate_gate, int accumulate_up);

/// RMSNorm of `rows` rows of `dim` floats: `rstd[r] = 1 / sqrt(mean_i x[r,i]² + eps)`,
/// `out[r,i] = x[r,i] · rstd[r] · (weight[i] + offset)`, the row sums in Double. When
/// `rounded` is not NULL, `out` rounded to bf16 (as `trimtab_f32_to_bf16`) goes there too.
void trimtab_rmsnorm_forward(float *out, uint16_t *rounded, float *rstd, const float *inp, const float *weight,
                             long rows, long dim, float eps, float offset);

/// RMSNorm's gradients over `rows` rows, from the forward's `inp` and `rstd`, with
/// `g = weight + offset` and `n = x · rstd`: `dinp[r,i] += rstd · (dy g − n · mean_j(dy g n))`
/// and `dweight[i] += Σ_r dy n` (Double partial sums); either may be NULL (not computed).
void trimtab_rmsnorm_backward(float *dinp, double *dweight, const float *dout, const float *inp,
                              const float *weight, const float *rstd, long rows, long dim, float offset);

/// Rounds `count` floats to bf16 (round to nearest, ties to even; NaN stays NaN, quiet).
void trimtab_f32_to_bf16(const float *src, uint16_t *dst, long count);

/// Whether the AVX2 kernels run (the CPU has AVX2, FMA and F16C, and the portable ones
/// are not forced).
int trimtab_kernels_use_avx2(void);

/// Forces the portable kernels (nonzero) or restores the CPU's best (0), for tests that
/// compare the two.
void trimtab_kernels_force_portable(int portable);

/// Forces the AVX2 kernels on an AVX-512 CPU (nonzero) or restores the CPU's best (0), for
/// tests that check the AVX2 code there; returns whether the AVX2 kernels now run.
int trimtab_kernels_force_avx2(int avx2);

#ifdef __cplusplus
}
#endif

#endif
