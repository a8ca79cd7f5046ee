/* Portable reference SOFTMAX (int8); the Cortex-M DSP variant is kernels/arm/softmax.c. */
#include "softmax.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_SOFTMAX

#define EFM_ACCUMULATION_INTEGER_BITS 12

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
