/* Portable reference SOFTMAX (int8); the Cortex-M DSP variant is kernels/arm/softmax.c. */
#include "softmax.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_SOFTMAX

#define EFM_ACCUMULATION_INTEGER_BITS 12

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent. */
static int64_t efm_sat_mul_pot(int64_t x, int32_t exponent) {
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
static int64_t efm_rounding_half_sum(int64_t a, int64_t b) {
    const int64_t s = a + b;
    const int64_t t = s + (s >= 0 ? 1 : -1);
    return t / 2;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson, three iterations. */
static int64_t efm_one_over_one_plus_x(int64_t a) {
    const int64_t half_denominator = efm_rounding_half_sum(a, EFM_INT32_MAX);
    int64_t x = 1515870810 + efm_srdhm(half_denominator, -1010580540);
    for (int i = 0; i < 3; i++) {
        const int64_t one_minus = ((int64_t)1 << 29) - efm_srdhm(half_denominator, x);
        x = x + efm_sat_mul_pot(efm_srdhm(x, one_minus), 2);
    }
    return efm_sat_mul_pot(x, 1);
}

static int32_t efm_clz32(uint32_t x) {
    if (x == 0) {
        return 32;
    }
    return __builtin_clz(x);
}

void efm_softmax_s8(const efm_softmax_params *p, const int8_t *x, int8_t *y) {
    const int32_t *table = p->exp_table + 255;
    for (int32_t r = 0; r < p->rows; r++, x += p->depth, y += p->depth) {
        int32_t mx = -128;
        for (int32_t i = 0; i < p->depth; i++) {
            mx = x[i] > mx ? x[i] : mx;
        }
        int64_t sum = 0;
        for (int32_t i = 0; i < p->depth; i++) {
            sum += efm_rdbpot(table[x[i] - mx], EFM_ACCUMULATION_INTEGER_BITS);
        }
        const int32_t sum32 = efm_wrap32(sum);
        const int32_t headroom_plus_one = efm_clz32((uint32_t)sum32);
        const int32_t num_bits_over_unit = EFM_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_minus_one =
            efm_wrap32((int64_t)(((uint64_t)(uint32_t)sum32 << headroom_plus_one)) - ((int64_t)1 << 31));
        const int64_t shifted_scale = efm_one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        for (int32_t i = 0; i < p->depth; i++) {
            int64_t out = efm_rdbpot(efm_srdhm(shifted_scale, table[x[i] - mx]), exponent) - 128;
            const int8_t q = (int8_t)efm_clamp64(out, -128, 127);
            y[i] = p->post_table ? (int8_t)p->post_table[(int32_t)q + 128] : q;
        }
    }
}

#endif
