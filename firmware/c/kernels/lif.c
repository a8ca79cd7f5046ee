/* Portable reference LIF (the Cortex-M DSP variant is kernels/arm/lif.c). */
#include "lif.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_LIF

#define EFM_LEAK_FRAC_BITS 15

void efm_lif(const efm_lif_params *p, const void *x, int32_t x_bytes, const int32_t *v0, uint8_t *spikes,
             int32_t *v_out) {
    const int32_t n_all = p->neurons;
    for (int32_t n = 0; n < n_all; n++) {
        int64_t v = v0 ? v0[n] : 0;
        for (int32_t t = 0; t < p->steps; t++) {
            const int32_t k = t * n_all + n;
            const int32_t xv = x_bytes == 1 ? ((const int8_t *)x)[k] : ((const int16_t *)x)[k];
            const int64_t i = efm_mbqm_single((int64_t)xv - p->input_zp, p->mult, p->shift);
            const int64_t h = efm_clamp64(((v * p->leak + ((int64_t)1 << (EFM_LEAK_FRAC_BITS - 1))) >>
                                           EFM_LEAK_FRAC_BITS) + i, EFM_INT32_MIN, EFM_INT32_MAX);
            const int fired = h >= p->theta;
            spikes[k] = (uint8_t)fired;
            v = fired ? 0 : h;
        }
        v_out[n] = (int32_t)v;
    }
}

#endif
