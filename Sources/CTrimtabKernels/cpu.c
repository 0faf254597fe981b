// Which code the C kernels run: AVX-512 (F, BW, DQ), AVX2 + FMA (+ F16C for the block
// products), or portable C; detected once, and forced to portable (or AVX2) by tests that
// compare the paths.

#include "CTrimtabKernels.h"
#include "vector.h"

#if defined(__x86_64__)
static trimtab_vector_level_t detect_level(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) {
        return TRIMTAB_PORTABLE;
    }
    // The block products' AVX-512 kernel also needs the byte/word and doubleword/quadword
    // instructions (every AVX-512 CPU since Skylake-SP has them).
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq");
    return avx512 ? TRIMTAB_AVX512 : TRIMTAB_AVX2;
}
#else
static trimtab_vector_level_t detect_level(void) { return TRIMTAB_PORTABLE; }
#endif

static int level_state = -1;  // -1: not yet detected

trimtab_vector_level_t trimtab_vector_level(void) {
    int known = __atomic_load_n(&level_state, __ATOMIC_RELAXED);
    if (known < 0) {  // every thread that races here computes the same answer
        known = (int)detect_level();
        __atomic_store_n(&level_state, known, __ATOMIC_RELAXED);
    }
    return (trimtab_vector_level_t)known;
}

int trimtab_kernels_use_avx2(void) { return trimtab_vector_level() != TRIMTAB_PORTABLE; }

void trimtab_kernels_force_portable(int portable) {
    __atomic_store_n(&level_state, portable ? (int)TRIMTAB_PORTABLE : (int)detect_level(), __ATOMIC_RELAXED);
}

int trimtab_kernels_force_avx2(int avx2) {
    trimtab_vector_level_t detected = detect_level();
    int level = avx2 && detected == TRIMTAB_AVX512 ? (int)TRIMTAB_AVX2 : (int)detected;
    __atomic_store_n(&level_state, level, __ATOMIC_RELAXED);
    return level == (int)TRIMTAB_AVX2;
}
