/* Shared integer helpers of the edgefmr C kernels: TFLite's fixed-point arithmetic and N-d strided copies.
 *
 * Each helper is the C twin of a function in edgefmr/ops/fixedpoint.py or gemmlowp.py and computes the same
 * values: 64-bit intermediates where the numpy code uses int64 without wrapping, an explicit wrap to 32 bits where
 * the numpy code calls wrap32. Multipliers and shifts are computed once at generation time in Python.
 */
#ifndef EFM_KERNEL_H
#define EFM_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define EFM_INT32_MIN ((int32_t)0x80000000)
#define EFM_INT32_MAX ((int32_t)0x7FFFFFFF)
#define EFM_MAX_DIMS 8

/* floor(sqrt(h)) of a 32-bit value: the bit-by-bit method, 16 steps. */
static inline uint32_t efm_isqrt32(uint32_t h) {
    uint32_t res = 0, bit = 1u << 30;
    while (bit) {
        const uint32_t cand = res + bit;
        if (h >= cand) {
            h -= cand;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

/* floor(sqrt(n)) for 0 <= n < 2^63: the bit-by-bit method, 32 fixed steps (edgefmr.ops.layer_norm.isqrt). */
static inline uint64_t efm_isqrt64(uint64_t n) {
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    for (int i = 0; i < 32; i++) {
        const uint64_t cand = res + bit;
        if (n >= cand) {
            n -= cand;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

/* Two's-complement wrap of a 64-bit value to 32 bits (C int32 overflow as the numpy wrap32). */
static inline int32_t efm_wrap32(int64_t x) {
    return (int32_t)(uint32_t)(uint64_t)x;
}

static inline int64_t efm_clamp64(int64_t x, int64_t lo, int64_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* round(x * mult * 2^(shift - 31)), one rounding half up (LiteRT's single-rounding MultiplyByQuantizedMultiplier). */
static inline int64_t efm_mbqm_single(int64_t x, int32_t mult, int32_t shift) {
    const int32_t total = 31 - shift;
    const int64_t round = (int64_t)1 << (total - 1);
    return (x * (int64_t)mult + round) >> total;
}

/* gemmlowp SaturatingRoundingDoublingHighMul on 64-bit operands (numpy: saturating_rounding_doubling_high_mul). */
static inline int64_t efm_srdhm(int64_t a, int64_t b) {
    if (a == EFM_INT32_MIN && b == EFM_INT32_MIN) {
        return EFM_INT32_MAX;
    }
    const int64_t ab = a * b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (ab + nudge) / ((int64_t)1 << 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero. */
static inline int64_t efm_rdbpot(int64_t x, int32_t exponent) {
    const int64_t mask = ((int64_t)1 << exponent) - 1;
    const int64_t remainder = x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* Double-rounding MultiplyByQuantizedMultiplier (numpy: multiply_by_quantized_multiplier_double): x * 2^left wraps
 * to int32 as TFLite's C code shifts in int32, then the rounding doubling high multiply and the rounding shift. */
static inline int64_t efm_mbqm_double(int64_t x, int32_t mult, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return efm_rdbpot(efm_srdhm(efm_wrap32(x * ((int64_t)1 << left)), mult), right);
}

/* The elementwise ops' form (numpy: elementwise.mbqm), the same arithmetic. */
static inline int64_t efm_mbqm_wrap(int64_t x, int32_t mult, int32_t shift) {
    return efm_mbqm_double(x, mult, shift);
}

/* An N-d strided view: element i = base + sum(index[d] * stride[d]) bytes, index[d] < count[d]. */
typedef struct {
    int32_t ndim;
    int32_t elem_size;
    int32_t count[EFM_MAX_DIMS];
    int32_t stride[EFM_MAX_DIMS]; /* in elements, may be negative */
} efm_strided_view;

/* Copies the view of `src` (starting at element `offset`) to contiguous `dst`, last dimension fastest. */
void efm_strided_copy(const efm_strided_view *v, const void *src, int32_t offset, void *dst);

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent. */
static inline int64_t efm_sat_mul_pot(int64_t x, int32_t exponent) {
    const int64_t threshold = ((int64_t)1 << (31 - exponent)) - 1;
    if (x > threshold) {
        return EFM_INT32_MAX;
    }
    if (x < -threshold) {
        return EFM_INT32_MIN;
    }
    return x * ((int64_t)1 << exponent);
}

/* gemmlowp RoundingHalfSum: (a + b + sign) / 2 with truncating division. */
static inline int64_t efm_rounding_half_sum(int64_t a, int64_t b) {
    const int64_t s = a + b;
    const int64_t t = s + (s >= 0 ? 1 : -1);
    return t / 2;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson, three iterations. */
static inline int64_t efm_one_over_one_plus_x(int64_t a) {
    const int64_t half_denominator = efm_rounding_half_sum(a, EFM_INT32_MAX);
    int64_t x = 1515870810 + efm_srdhm(half_denominator, -1010580540);
    for (int i = 0; i < 3; i++) {
        const int64_t one_minus = ((int64_t)1 << 29) - efm_srdhm(half_denominator, x);
        x = x + efm_sat_mul_pot(efm_srdhm(x, one_minus), 2);
    }
    return efm_sat_mul_pot(x, 1);
}

#endif /* EFM_KERNEL_H */
