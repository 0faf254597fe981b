// f32 → bf16 rounding of activation buffers for the bf16 products; see CTrimtabKernels.h.
//
// Every linear layer over bf16 weights rounds its input (and in backward its output
// gradient) to bf16 first: ~300 M elements a training step of SmolLM2. The Swift loop ran
// one element at a time; here 16 lanes round at once with the same integer arithmetic
// (add 0x7FFF plus the lowest kept bit, then drop the low half: round to nearest, ties to
// even; NaNs stay NaN, made quiet), so the result is bit for bit the scalar one.

#include "CTrimtabKernels.h"
#include "vector.h"

#define TO_BF16_CHUNK(i, lanes) STORE_BF16(dst, i, lanes, LOAD(src, i, lanes));

#define BF16_FUNCTIONS(SUFFIX, TARGET)                                                     \
    TARGET static void to_bf16_##SUFFIX(const float *src, uint16_t *dst, long count) {     \
        FOR_CHUNKS(count, TO_BF16_CHUNK);                                                  \
    }

BF16_FUNCTIONS(portable, )
#if defined(__x86_64__)
BF16_FUNCTIONS(avx2, TARGET_AVX2)
BF16_FUNCTIONS(avx512, TARGET_AVX512)
#endif

void trimtab_f32_to_bf16(const float *src, uint16_t *dst, long count) {
    DISPATCH(to_bf16, src, dst, count)
}
