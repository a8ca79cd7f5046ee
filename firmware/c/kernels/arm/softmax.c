/* SOFTMAX and CLIPPED_SOFTMAX for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/softmax.c.
 *
 * Per row: the maximum four bytes at a time (SSUB8 + SEL on signed byte lanes); the exp sum from the op's exp
 * table (table pointer moved so that the byte is the offset) with the rounding divide by 2^12 of a non-negative
 * value as an unsigned add and shift; the reciprocal in gemmlowp fixed point (32-bit SMULL-based doubling high multiplies, QADD saturation); then per
 * element the two roundings of the output (SaturatingRoundingDoublingHighMul of two non-negative values, then the
 * rounding divide by 2^e) merged into one: floor((s x + 2^30 + 2^(30+e)) / 2^(31+e)) = (hi(s x + 2^30) + 2^(e-2))
 * >> (e-1), one UMLAL on a 64-bit accumulator preset to {2^(e-2), 2^30} (exact for 2 <= e <= 32; other rows,
 * which need a wrapped exp sum, take the portable arithmetic). */
#ifdef EFM_ARM_SOFTMAX

#include "softmax.h"

/* efm_arm.h also holds other kernels' helpers that this file does not call. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"

#define EFM_ACCUMULATION_INTEGER_BITS 12

/* gemmlowp SaturatingRoundingDoublingHighMul of int32 operands that are not both INT32_MIN: floor((a b + 2^30) /
 * 2^31) (the rounding is half up for both signs), from the 64-bit SMULL product. */
static inline int32_t efm_srdhm32(int32_t a, int32_t b) {
    int32_t lo, hi;
    __asm__("smull %0, %1, %2, %3\n\t"
            "adds %0, %0, #0x40000000\n\t"
            "adc %1, %1, #0\n\t"
            "lsl %1, %1, #1\n\t"
            "orr %1, %1, %0, lsr #31"
            : "=&r"(lo), "=&r"(hi)
            : "r"(a), "r"(b)
            : "cc");
    return hi;
}

/* Saturating a * 2 (QADD). */
static inline int32_t efm_qdouble(int32_t a) {
    int32_t r;
    __asm__("qadd %0, %1, %1" : "=r"(r) : "r"(a) : "cc");
    return r;
}

/* efm_one_over_one_plus_x for 0 <= a < 2^31 in 32-bit operations: the half sum (a + 2^31 - 1 + 1) / 2 as an
 * unsigned add and shift; no operand of the doubling high multiplies is INT32_MIN; SaturatingRoundingMultiplyByPOT
 * by 2 (resp. 1) saturates exactly as two (one) saturating doublings. */
static int32_t efm_one_over_one_plus_x32(int32_t a) {
    const int32_t half_denominator = (int32_t)(((uint32_t)a + 0x80000000u) >> 1);
    int32_t x = 1515870810 + efm_srdhm32(half_denominator, -1010580540);
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus = (1 << 29) - efm_srdhm32(half_denominator, x);
        x = x + efm_qdouble(efm_qdouble(efm_srdhm32(x, one_minus)));
    }
    return efm_qdouble(x);
}

/* The largest of n int8 values (at least -128). */
static int32_t efm_softmax_max(const int8_t *x, int32_t n) {
    int32_t mx = -128;
    if (n >= 4) {
        uint32_t m = 0x80808080u;
        for (; n >= 4; n -= 4, x += 4) {
            const uint32_t w = efm_load4(x);
            uint32_t t;
            __asm__("ssub8 %1, %2, %0\n\t"
                    "sel %0, %2, %0"
                    : "+r"(m), "=&r"(t)
                    : "r"(w)
                    : "cc");
        }
        for (int32_t k = 0; k < 4; k++) {
            const int32_t v = (int8_t)(m >> (8 * k));
            mx = v > mx ? v : mx;
        }
    }
    for (; n > 0; n--, x++) {
        mx = *x > mx ? *x : mx;
    }
    return mx;
}

void efm_softmax_s8(const efm_softmax_params *p, const int8_t *x, int8_t *y) {
    const int32_t depth = p->depth;
    const uint8_t *post = p->post_table ? p->post_table + 128 : 0;
    for (int32_t r = 0; r < p->rows; r++, x += depth, y += depth) {
        const int32_t mx = efm_softmax_max(x, depth);
        const int32_t *table = p->exp_table + 255 - mx; /* table[x] = exp(x - mx) */
        uint32_t sum = 0;
        int32_t i = 0;
        for (; i + 4 <= depth; i += 4) {
            const int32_t a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
            sum += ((uint32_t)table[a] + 2048u) >> 12;
            sum += ((uint32_t)table[b] + 2048u) >> 12;
            sum += ((uint32_t)table[c] + 2048u) >> 12;
            sum += ((uint32_t)table[d] + 2048u) >> 12;
        }
        for (; i < depth; i++) {
            sum += ((uint32_t)table[x[i]] + 2048u) >> 12;
        }
        const int32_t headroom_plus_one = sum == 0 ? 32 : __builtin_clz(sum);
        const int32_t num_bits_over_unit = EFM_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_minus_one =
            efm_wrap32((int64_t)(((uint64_t)sum << headroom_plus_one)) - ((int64_t)1 << 31));
        const int64_t shifted_scale = shifted_minus_one >= 0 ? efm_one_over_one_plus_x32(shifted_minus_one)
                                                            : efm_one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        if (exponent < 2 || exponent > 32 || shifted_scale < 0) {
            for (i = 0; i < depth; i++) {
                const int64_t out = efm_rdbpot(efm_srdhm(shifted_scale, table[x[i]]), exponent) - 128;
                const int8_t q = (int8_t)efm_clamp64(out, -128, 127);
                y[i] = post ? (int8_t)post[q] : q;
            }
            continue;
        }
        const uint32_t s = (uint32_t)shifted_scale;
        const uint64_t preset = ((uint64_t)(1u << (exponent - 2)) << 32) | (1u << 30);
        const int32_t rs = exponent - 1;
#define EFM_SOFTMAX_OUT(V) efm_ssat8((int32_t)((uint32_t)((preset + (uint64_t)s * (uint32_t)(V)) >> 32) >> rs) - 128)
        if (post) {
            for (i = 0; i < depth; i++) {
                y[i] = (int8_t)post[EFM_SOFTMAX_OUT(table[x[i]])];
            }
        } else {
            for (i = 0; i + 2 <= depth; i += 2) {
                const int32_t a = x[i], b = x[i + 1];
                y[i] = (int8_t)EFM_SOFTMAX_OUT(table[a]);
                y[i + 1] = (int8_t)EFM_SOFTMAX_OUT(table[b]);
            }
            for (; i < depth; i++) {
                y[i] = (int8_t)EFM_SOFTMAX_OUT(table[x[i]]);
            }
        }
#undef EFM_SOFTMAX_OUT
    }
}

#endif
