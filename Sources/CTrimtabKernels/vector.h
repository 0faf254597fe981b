// Shared by the C kernels that are written once with the compiler's 16-lane vector type
// and compiled for AVX-512, for AVX2 + FMA and portably (not part of the public header).
#ifndef TRIMTAB_VECTOR_H
#define TRIMTAB_VECTOR_H

#include <stdint.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TARGET_AVX512 __attribute__((target("avx512f")))

typedef uint32_t u32x16 __attribute__((vector_size(64), aligned(4)));
typedef uint16_t u16x16 __attribute__((vector_size(32), aligned(2)));

// The 16 bf16s of 16 f32 bit patterns (a macro: vector arguments would change the ABI
// between the target levels).
#define ROUND_LANES(bits_in, half_out)                                                     \
    do {                                                                                   \
        u32x16 bits_ = (bits_in);                                                          \
        u32x16 rounded_ = (bits_ + 0x7FFFu + ((bits_ >> 16) & 1u)) >> 16;                  \
        u32x16 nan_ = (u32x16)((bits_ & 0x7FFFFFFFu) > 0x7F800000u);                       \
        u32x16 quiet_ = (bits_ >> 16) | 0x40u;                                             \
        (half_out) = __builtin_convertvector((nan_ & quiet_) | (~nan_ & rounded_), u16x16); \
    } while (0)

// 16 bf16s widened to f32 (exact: a bf16 is the high half of an f32).
#define WIDEN_BF16(half_in) ((v16)(__builtin_convertvector((half_in), u32x16) << 16))

// Runs BODY over 16-lane chunks of [0, count): whole vectors in place, then the tail
// through zero-padded buffers (one per array named in the body, LOAD/STORE below).
#define FOR_CHUNKS(count, BODY)                                                            \
    do {                                                                                   \
        long i = 0;                                                                        \
        for (; i + 16 <= (count); i += 16) {                                               \
            BODY(i, 16)                                                                    \
        }                                                                                  \
        if (i < (count)) { BODY(i, (count) - i) }                                          \
    } while (0)

// A 16-lane load of p[i...] into a vector of type T with `lanes` valid (the rest zero),
// and the matching store of `lanes` elements.
#define LOAD_LANES(T, p, i, lanes)                                                         \
    ({                                                                                     \
        T v_ = {0};                                                                        \
        if ((lanes) == 16) v_ = *(const T *)((p) + (i));                                   \
        else memcpy(&v_, (p) + (i), sizeof(*(p)) * (size_t)(lanes));                       \
        v_;                                                                                \
    })
#define STORE_LANES(T, p, i, lanes, v)                                                     \
    do {                                                                                   \
        T w_ = (v);                                                                        \
        if ((lanes) == 16) *(T *)((p) + (i)) = w_;                                         \
        else memcpy((p) + (i), &w_, sizeof(*(p)) * (size_t)(lanes));                       \
    } while (0)

// f32 arrays, and bf16 ones: a load widens (exactly), a store rounds (as trimtab_f32_to_bf16).
#define LOAD(p, i, lanes) LOAD_LANES(v16, p, i, lanes)
#define STORE(p, i, lanes, v) STORE_LANES(v16, p, i, lanes, v)
#define LOAD_BF16(p, i, lanes) WIDEN_BF16(LOAD_LANES(u16x16, p, i, lanes))
#define STORE_BF16(p, i, lanes, v)                                                         \
    do {                                                                                   \
        u16x16 h_;                                                                         \
        ROUND_LANES((u32x16)(v), h_);                                                      \
        STORE_LANES(u16x16, p, i, lanes, h_);                                              \
    } while (0)

// Lanes where `mask` is set take `a`, the others `b`.
#define SELECT(mask, a, b) ((v16)(((mask) & (i16)(a)) | (~(mask) & (i16)(b))))

// eˣ per lane: Cephes expf (Cody–Waite reduction by ln 2, a degree-6 polynomial; within
// 2 ulp of libm), as in TrimtabTensor's Swift kernels (Activations, Softmax). 0 below −87.34,
// saturating at 88.
#define EXP_BODY(x, result)                                                                \
    do {                                                                                   \
        const v16 low_ = (v16){0} - 87.33654f;                                             \
        i16 below_ = (x) < low_;                                                           \
        v16 c_ = SELECT(below_, low_, x);                                                  \
        c_ = SELECT(c_ > 88.0f, (v16){0} + 88.0f, c_);                                     \
        const float magic_ = 12582912.0f; /* 1.5 · 2²³: the sum's low bits hold round(x/ln2) */\
        v16 shifted_ = c_ * 1.44269504f + magic_;                                          \
        v16 n_ = shifted_ - magic_;                                                        \
        v16 r_ = c_ - n_ * 0.693359375f - n_ * -2.12194440e-4f;                            \
        v16 y_ = 1.9875691500e-4f * r_ + 1.3981999507e-3f;                                 \
        y_ = y_ * r_ + 8.3334519073e-3f;                                                   \
        y_ = y_ * r_ + 4.1665795894e-2f;                                                   \
        y_ = y_ * r_ + 1.6666665459e-1f;                                                   \
        y_ = y_ * r_ + 5.0000001201e-1f;                                                   \
        y_ = y_ * (r_ * r_) + r_ + 1.0f;                                                   \
        i16 bits_ = (((i16)shifted_ - 0x4B400000) + 127) << 23;                            \
        v16 e_ = y_ * (v16)bits_;                                                          \
        (result) = SELECT(below_, (v16){0}, e_);                                           \
    } while (0)

/// The best code the CPU runs: AVX-512, AVX2 + FMA, or portable (also when the portable
/// kernels are forced, `trimtab_kernels_force_portable`).
typedef enum { TRIMTAB_PORTABLE, TRIMTAB_AVX2, TRIMTAB_AVX512 } trimtab_vector_level_t;
trimtab_vector_level_t trimtab_vector_level(void);

// `return NAME_<level>(...)` for the level the CPU runs.
#if defined(__x86_64__)
#define DISPATCH(NAME, ...)                                                                \
    switch (trimtab_vector_level()) {                                                      \
    case TRIMTAB_AVX512: return NAME##_avx512(__VA_ARGS__);                                \
    case TRIMTAB_AVX2: return NAME##_avx2(__VA_ARGS__);                                    \
    default: return NAME##_portable(__VA_ARGS__);                                          \
    }
#else
#define DISPATCH(NAME, ...) return NAME##_portable(__VA_ARGS__);
#endif

#endif
