// f32 → bf16 rounding of activation buffers for the bf16 products; see CTrimtabKernels.h.
//
// Every linear layer over bf16 weights rounds its input (and in backward its output
// gradient) to bf16 first: ~300 M elements a training step of SmolLM2. The Swift loop ran
// one element at a time; here 16 lanes round at once with the same integer arithmetic
// (add 0x7FFF plus the lowest kept bit, then drop the low half: round to nearest, ties to
// even; NaNs stay NaN, made quiet), so the result is bit for bit the scalar one.

#include "CTrimtabKernels.h"
#include "vector.h"

#include <string.h>

#define BF16_FUNCTIONS(SUFFIX, TARGET)                                                     \
    TARGET static void to_bf16_##SUFFIX(const float *src, uint16_t *dst, long count) {     \
        long i = 0;                                                                        \
        for (; i + 16 <= count; i += 16) {                                                 \
            ROUND_LANES(*(const u32x16 *)(src + i), *(u16x16 *)(dst + i));                 \
        }                                                                                  \
        if (i < count) {                                                                   \
            u32x16 bits = {0};                                                             \
            memcpy(&bits, src + i, sizeof(float) * (size_t)(count - i));                  \
            u16x16 half;                                                                   \
            ROUND_LANES(bits, half);                                                       \
            memcpy(dst + i, &half, sizeof(uint16_t) * (size_t)(count - i));                \
        }                                                                                  \
    }

BF16_FUNCTIONS(portable, )
#if defined(__x86_64__)
BF16_FUNCTIONS(avx2, TARGET_AVX2)
BF16_FUNCTIONS(avx512, TARGET_AVX512)
#endif

void trimtab_f32_to_bf16(const float *src, uint16_t *dst, long count) {
    DISPATCH(to_bf16, src, dst, count)
}
