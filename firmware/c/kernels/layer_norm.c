/* Portable reference LAYER_NORM; the Cortex-M DSP variant is kernels/arm/layer_norm.c. */
#include "layer_norm.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_LAYER_NORM

#define EFM_NORM_FRAC_BITS 16

static int32_t efm_bit_length64(uint64_t n) {
    int32_t b = 0;
    while (n) {
        b++;
        n >>= 1;
    }
    return b;
}

void efm_layer_norm(const efm_layer_norm_params *p, const int8_t *x, const int8_t *gamma, const int32_t *beta,
                    int8_t *y) {
    const int32_t ch = p->channels;
    for (int32_t r = 0; r < p->rows; r++, x += ch, y += ch) {
        int64_t s1 = 0, s2 = 0;
        for (int32_t i = 0; i < ch; i++) {
            s1 += x[i];
            s2 += (int32_t)x[i] * x[i];
        }
        const int64_t q = (int64_t)ch * s2 - s1 * s1 + p->eps;
        int64_t recip = 0;
        int32_t t = 60 - EFM_NORM_FRAC_BITS;
        if (q > 0) {
            const int32_t k = (62 - efm_bit_length64((uint64_t)q)) / 2;
            const uint64_t root = efm_isqrt64((uint64_t)q << (2 * k));
            recip = (int64_t)(((uint64_t)1 << 60) / (root > 0 ? root : 1u));
            t -= k;
        }
        for (int32_t i = 0; i < ch; i++) {
            const int64_t d = (int64_t)ch * x[i] - s1;
            const int64_t n = (d * recip + ((int64_t)1 << (t - 1))) >> t;
            int64_t v = efm_mbqm_single((int64_t)gamma[i] * n, p->mult[i], p->shift[i]) + p->output_zp;
            if (beta) {
                v += beta[i];
            }
            y[i] = (int8_t)efm_clamp64(v, -128, 127);
        }
    }
}

#endif
