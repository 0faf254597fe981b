// Integer dot products of ggml blocks with 16-bit activations; see CTrimtabKernels.h.
//
// A decoded token reads every weight once, so its speed is the speed at which blocks
// stream from memory. Widening each block to f32 (what Swift's SIMD types express) costs
// ~18 cycles a block and ran at half the memory bandwidth. Here each activation row is
// first scaled to 16-bit integers per 32-element block, so a block's dot product is exact
// integer arithmetic: the weights widen to 16 bits and AVX2's vpmaddwd multiplies and
// pairs them, and only the per-block scaling rounds.
//
// Why 16 bits and not llama.cpp's 8: SmolLM2's activations carry outliers, and with 8 bits
// a block holding one keeps only a few levels for the rest. Decoding with 8-bit
// activations moved the logits by up to 4.7% of their range and changed greedy
// continuations after a few tokens; 16 bits (a step of max|x|/32767) keep the result
// within float rounding of the f32 product and cost one more instruction a block.
//
// Per block b of weight row n and input row r, with the activation block x̂ = s·q̂:
//   Q4_1: d·s·Σ q·q̂ + m·(s·Σ q̂)        Q4_0: d·s·Σ q·q̂ − 8d·(s·Σ q̂)        Q8_0: d·s·Σ q·q̂
// which is exactly Σ w·x̂ with ggml's dequantised weights. Bounds: |q·q̂| ≤ 128·32767, and
// a block's 32 products fold into 8 lanes of 4, at most 16,776,704 < 2^24: exact in int32
// and in its conversion to f32.

#include "CTrimtabKernels.h"
#include "vector.h"

#include <math.h>
#include <string.h>

static const long block_size = 32;

static long block_bytes(trimtab_block_format format) {
    switch (format) {
    case TRIMTAB_Q4_0: return 18;
    case TRIMTAB_Q4_1: return 20;
    default: return 34;
    }
}

// What a block adds per unit of the activation block's sum: Q4_1's m, Q4_0's −8d.
static inline float offset_per_sum(trimtab_block_format format, float d, float m) {
    switch (format) {
    case TRIMTAB_Q4_0: return -8 * d;
    case TRIMTAB_Q4_1: return m;
    default: return 0;
    }
}

// IEEE half to float, for the portable kernels.
static float half_to_float(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: normalise
        exponent = 113;
        while ((mantissa & 0x400) == 0) { mantissa <<= 1; exponent--; }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static const float largest_level = 32767;

static void quantize_portable(const float *x, long columns, int16_t *q, float *scale, float *sum) {
    for (long b = 0; b < columns / block_size; b++) {
        const float *xb = x + b * block_size;
        float amax = 0;
        for (long j = 0; j < block_size; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float s = amax / largest_level, inverse = amax > 0 ? largest_level / amax : 0;
        int32_t total = 0;
        for (long j = 0; j < block_size; j++) {
            int32_t v = (int32_t)nearbyintf(xb[j] * inverse);
            q[b * block_size + j] = (int16_t)v;
            total += v;
        }
        scale[b] = s;
        sum[b] = s * (float)total;
    }
}

static void product_portable(trimtab_block_format format, const uint8_t *weights, long columns, long first_row,
                             long end_row, const int16_t *q, const float *scale, const float *sum, int input_rows,
                             float *out, long out_stride) {
    long blocks = columns / block_size, bytes = block_bytes(format);
    for (long n = first_row; n < end_row; n++) {
        const uint8_t *row = weights + n * blocks * bytes;
        for (int r = 0; r < input_rows; r++) {
            const int16_t *qr = q + r * columns;
            float total = 0;
            for (long b = 0; b < blocks; b++) {
                const uint8_t *block = row + b * bytes;
                const int16_t *qb = qr + b * block_size;
                float d = half_to_float(block);
                float m = offset_per_sum(format, d, format == TRIMTAB_Q4_1 ? half_to_float(block + 2) : 0);
                int32_t dot = 0;
                if (format == TRIMTAB_Q8_0) {
                    const int8_t *w = (const int8_t *)(block + 2);
                    for (long j = 0; j < block_size; j++) dot += w[j] * qb[j];
                } else {
                    const uint8_t *nibbles = block + (format == TRIMTAB_Q4_1 ? 4 : 2);
                    for (long j = 0; j < 16; j++) dot += (nibbles[j] & 0xF) * qb[j] + (nibbles[j] >> 4) * qb[j + 16];
                }
                total += d * scale[r * blocks + b] * (float)dot + m * sum[r * blocks + b];
            }
            out[r * out_stride + n] = total;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

// The two halves at `p` (a block's d and, in Q4_1, m) in lanes 0 and 1, through a
// 32-bit load: a 16-bit one compiles to an insert into whatever register is free, which
// made each block wait for the previous block's accumulator (3x slower).
static inline AVX2 __m128 halves(const uint8_t *p) {
    uint32_t pair;
    memcpy(&pair, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)pair));
}

static inline AVX2 float horizontal_sum(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

// A block's elements 0–15 and 16–31 as 16-bit integers, and its d and m (the offset per
// unit of the activation block's sum).
static inline __attribute__((always_inline)) AVX2 void
widen_block_avx2(trimtab_block_format format, const uint8_t *block, __m256i *w0, __m256i *w1, float *d, float *m) {
    const __m128 dm = halves(block);
    *d = _mm_cvtss_f32(dm);
    *m = format == TRIMTAB_Q4_1 ? _mm_cvtss_f32(_mm_movehdup_ps(dm)) : offset_per_sum(format, *d, 0);
    if (format == TRIMTAB_Q8_0) {
        *w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 2)));
        *w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 18)));
    } else {
        const __m128i low_nibbles = _mm_set1_epi8(0x0F);
        __m128i packed = _mm_loadu_si128((const __m128i *)(block + (format == TRIMTAB_Q4_1 ? 4 : 2)));
        *w0 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low_nibbles));
        *w1 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low_nibbles));
    }
}

// Σ of a block's 32 products with the activations at x, in 8 int32 lanes.
static inline __attribute__((always_inline)) AVX2 __m256i block_dot_avx2(__m256i w0, __m256i w1, const int16_t *x) {
    return _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)x)),
                            _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(x + 16))));
}

static AVX2 void quantize_avx2(const float *x, long columns, int16_t *q, float *scale, float *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (long b = 0; b < columns / block_size; b++) {
        const float *xb = x + b * block_size;
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float largest = _mm_cvtss_f32(m4);
        float s = largest / largest_level, inverse = largest > 0 ? largest_level / largest : 0;
        __m256i n[4], total = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            __m256 scaled = _mm256_mul_ps(v[i], _mm256_set1_ps(inverse));
            n[i] = _mm256_cvtps_epi32(_mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            total = _mm256_add_epi32(total, n[i]);
        }
        // Narrow to 16 bits: the pack interleaves 128-bit lanes, the permutation restores order.
        for (int i = 0; i < 2; i++) {
            __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(n[2 * i], n[2 * i + 1]), 0xD8);
            _mm256_storeu_si256((__m256i *)(q + b * block_size + 16 * i), packed);
        }
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        scale[b] = s;
        sum[b] = s * (float)_mm_cvtsi128_si32(t);
    }
}

// One weight row against `R` input rows (a constant after inlining, so the accumulators
// stay in registers).
static inline __attribute__((always_inline)) AVX2 void
row_avx2(trimtab_block_format format, const uint8_t *row, long columns, const int16_t *q, const float *scale,
         const float *sum, const int R, float *out, long out_stride) {
    const long blocks = columns / block_size, bytes = block_bytes(format);
    __m256 acc[8];
    float offset[8];
    for (int r = 0; r < R; r++) { acc[r] = _mm256_setzero_ps(); offset[r] = 0; }
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * bytes;
        // The hardware prefetcher alone left the stream of blocks at ~60% of the memory
        // bandwidth; asking 1 KiB ahead brought it to ~75% (measured on a 96 MB matrix set).
        _mm_prefetch((const char *)block + 1024, _MM_HINT_T0);
        __m256i w0, w1;
        float d, m;
        widen_block_avx2(format, block, &w0, &w1, &d, &m);
        for (int r = 0; r < R; r++) {
            const __m256i dot = block_dot_avx2(w0, w1, q + r * columns + b * block_size);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * scale[r * blocks + b]), _mm256_cvtepi32_ps(dot), acc[r]);
            if (format != TRIMTAB_Q8_0) offset[r] += m * sum[r * blocks + b];
        }
    }
    for (int r = 0; r < R; r++) out[r * out_stride] = horizontal_sum(acc[r]) + offset[r];
}

static inline __attribute__((always_inline)) AVX2 void
rows_avx2(trimtab_block_format format, const uint8_t *weights, long columns, long first_row, long end_row,
          const int16_t *q, const float *scale, const float *sum, int input_rows, float *out, long out_stride) {
    const long row_bytes = columns / block_size * block_bytes(format);
    for (long n = first_row; n < end_row; n++) {
        const uint8_t *row = weights + n * row_bytes;
        float *o = out + n;
        switch (input_rows) {
        case 1: row_avx2(format, row, columns, q, scale, sum, 1, o, out_stride); break;
        case 2: row_avx2(format, row, columns, q, scale, sum, 2, o, out_stride); break;
        case 3: row_avx2(format, row, columns, q, scale, sum, 3, o, out_stride); break;
        case 4: row_avx2(format, row, columns, q, scale, sum, 4, o, out_stride); break;
        case 5: row_avx2(format, row, columns, q, scale, sum, 5, o, out_stride); break;
        case 6: row_avx2(format, row, columns, q, scale, sum, 6, o, out_stride); break;
        case 7: row_avx2(format, row, columns, q, scale, sum, 7, o, out_stride); break;
        default: row_avx2(format, row, columns, q, scale, sum, 8, o, out_stride); break;
        }
    }
}

static AVX2 void product_avx2(trimtab_block_format format, const uint8_t *weights, long columns, long first_row,
                              long end_row, const int16_t *q, const float *scale, const float *sum,
                              int input_rows, float *out, long out_stride) {
    switch (format) {
    case TRIMTAB_Q4_0:
        rows_avx2(TRIMTAB_Q4_0, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
        break;
    case TRIMTAB_Q4_1:
        rows_avx2(TRIMTAB_Q4_1, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
        break;
    default:
        rows_avx2(TRIMTAB_Q8_0, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
        break;
    }
}

// AVX-512 (with BW): two blocks per step in 512-bit registers. The AVX2 kernel ran at
// ~17 GB/s a thread, half of what one core streams from memory; the weights of a decoded
// token took 55-63% of its time. A step widens the two blocks' nibbles (or bytes) to
// 16 bits as [b 0-15, b+1 0-15] and [b 16-31, b+1 16-31], pairs the activations the same
// way, and one vpmaddwd each leaves block b's sums in lanes 0-7 and b+1's in 8-15.
// Both blocks' d·s and m·(s Σq̂) come from one 4-lane product; d·s is spread over each
// block's 8 lanes and the offsets add up in lanes 1 and 3. Same sums as the AVX2 kernel,
// grouped differently.
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx2,fma,f16c")))

// The 16 bytes at `offset` into the block at p and into the next one, in one register.
static inline AVX512 __m256i block_pair_bytes(const uint8_t *p, long bytes, long offset) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + offset))),
                                   _mm_loadu_si128((const __m128i *)(p + bytes + offset)), 1);
}

// One weight row against `R` input rows, blocks two at a time (the last block of an odd
// count with the AVX2 block code).
static inline __attribute__((always_inline)) AVX512 void
row_avx512(trimtab_block_format format, const uint8_t *row, long columns, const int16_t *q, const float *scale,
           const float *sum, const int R, float *out, long out_stride) {
    const long blocks = columns / block_size, bytes = block_bytes(format);
    const long pairs = blocks / 2;
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    // Q4_1 stores m; Q4_0's is −8d, Q8_0's 0: (1, f, 1, f) times (d, d, d', d').
    const __m128 m_factor = _mm_setr_ps(1, format == TRIMTAB_Q4_0 ? -8.0f : 0.0f, 1, format == TRIMTAB_Q4_0 ? -8.0f : 0.0f);
    __m512 acc[8];
    __m128 offset[8];
    for (int r = 0; r < R; r++) { acc[r] = _mm512_setzero_ps(); offset[r] = _mm_setzero_ps(); }
    for (long p = 0; p < pairs; p++) {
        const long b = 2 * p;
        const uint8_t *block = row + b * bytes;
        _mm_prefetch((const char *)block + 1024, _MM_HINT_T0);
        uint32_t first, second;
        memcpy(&first, block, 4);
        memcpy(&second, block + bytes, 4);
        // (d_b, m_b, d_b+1, m_b+1) as Q4_1 stores them, or (d_b, ·, d_b+1, ·).
        __m128 dm = _mm_cvtph_ps(_mm_setr_epi32((int)first, (int)second, 0, 0));
        if (format != TRIMTAB_Q4_1) dm = _mm_mul_ps(_mm_moveldup_ps(dm), m_factor);
        __m512i w0, w1;
        if (format == TRIMTAB_Q8_0) {
            w0 = _mm512_cvtepi8_epi16(block_pair_bytes(block, bytes, 2));
            w1 = _mm512_cvtepi8_epi16(block_pair_bytes(block, bytes, 18));
        } else {
            __m256i packed = block_pair_bytes(block, bytes, format == TRIMTAB_Q4_1 ? 4 : 2);
            w0 = _mm512_cvtepu8_epi16(_mm256_and_si256(packed, low_nibbles));
            w1 = _mm512_cvtepu8_epi16(_mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles));
        }
        for (int r = 0; r < R; r++) {
            const int16_t *x = q + r * columns + b * block_size;
            const __m512i x0 = _mm512_loadu_si512((const void *)x), x1 = _mm512_loadu_si512((const void *)(x + 32));
            const __m512i low = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(1, 0, 1, 0));
            const __m512i high = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(3, 2, 3, 2));
            __m512i dot = _mm512_add_epi32(_mm512_madd_epi16(w0, low), _mm512_madd_epi16(w1, high));
            const float *sr = scale + r * blocks + b, *tr = sum + r * blocks + b;
            // (s_b, Σ_b, s_b+1, Σ_b+1) times (d_b, m_b, d_b+1, m_b+1).
            __m128 activation = _mm_unpacklo_ps(_mm_castpd_ps(_mm_load_sd((const double *)sr)),
                                                _mm_castpd_ps(_mm_load_sd((const double *)tr)));
            __m128 product = _mm_mul_ps(dm, activation);
            __m512 factors = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(product));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), factors, acc[r]);
            offset[r] = _mm_add_ps(offset[r], product);
        }
    }
    float tail[8] = {0};
    if (blocks % 2) {
        const long b = blocks - 1;
        // The last block of an odd count, 16 elements a register.
        __m256i w0, w1;
        float d, m;
        widen_block_avx2(format, row + b * bytes, &w0, &w1, &d, &m);
        for (int r = 0; r < R; r++) {
            const __m256i dot = block_dot_avx2(w0, w1, q + r * columns + b * block_size);
            tail[r] = d * scale[r * blocks + b] * horizontal_sum(_mm256_cvtepi32_ps(dot));
            if (format != TRIMTAB_Q8_0) tail[r] += m * sum[r * blocks + b];
        }
    }
    for (int r = 0; r < R; r++) {
        const __m128 o = offset[r];
        out[r * out_stride] = _mm512_reduce_add_ps(acc[r]) + (_mm_cvtss_f32(_mm_movehdup_ps(o)) +
                                                             _mm_cvtss_f32(_mm_movehl_ps(o, _mm_movehdup_ps(o)))) + tail[r];
    }
}

static AVX512 void product_avx512(trimtab_block_format format, const uint8_t *weights, long columns,
                                  long first_row, long end_row, const int16_t *q, const float *scale,
                                  const float *sum, int input_rows, float *out, long out_stride) {
#define ROWS_AVX512(FORMAT)                                                                \
    for (long n = first_row; n < end_row; n++) {                                           \
        const uint8_t *row = weights + n * (columns / block_size * block_bytes(FORMAT));   \
        float *o = out + n;                                                                \
        switch (input_rows) {                                                              \
        case 1: row_avx512(FORMAT, row, columns, q, scale, sum, 1, o, out_stride); break;  \
        case 2: row_avx512(FORMAT, row, columns, q, scale, sum, 2, o, out_stride); break;  \
        case 3: row_avx512(FORMAT, row, columns, q, scale, sum, 3, o, out_stride); break;  \
        case 4: row_avx512(FORMAT, row, columns, q, scale, sum, 4, o, out_stride); break;  \
        case 5: row_avx512(FORMAT, row, columns, q, scale, sum, 5, o, out_stride); break;  \
        case 6: row_avx512(FORMAT, row, columns, q, scale, sum, 6, o, out_stride); break;  \
        case 7: row_avx512(FORMAT, row, columns, q, scale, sum, 7, o, out_stride); break;  \
        default: row_avx512(FORMAT, row, columns, q, scale, sum, 8, o, out_stride); break; \
        }                                                                                  \
    }
    switch (format) {
    case TRIMTAB_Q4_0: ROWS_AVX512(TRIMTAB_Q4_0) break;
    case TRIMTAB_Q4_1: ROWS_AVX512(TRIMTAB_Q4_1) break;
    default: ROWS_AVX512(TRIMTAB_Q8_0) break;
    }
#undef ROWS_AVX512
}

#endif

void trimtab_quantize_activations(const float *x, long columns, int16_t *q, float *scale, float *sum) {
#if defined(__x86_64__)
    if (trimtab_kernels_use_avx2()) { quantize_avx2(x, columns, q, scale, sum); return; }
#endif
    quantize_portable(x, columns, q, scale, sum);
}

void trimtab_block_product(trimtab_block_format format, const uint8_t *weights, long columns, long first_row,
                           long end_row, const int16_t *q, const float *scale, const float *sum, int input_rows,
                           float *out, long out_stride) {
#if defined(__x86_64__)
    if (trimtab_vector_level() == TRIMTAB_AVX512) {
        product_avx512(format, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
        return;
    }
    if (trimtab_kernels_use_avx2()) {
        product_avx2(format, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
        return;
    }
#endif
    product_portable(format, weights, columns, first_row, end_row, q, scale, sum, input_rows, out, out_stride);
}
