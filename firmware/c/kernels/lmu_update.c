/* Portable reference LMU_UPDATE (the Cortex-M DSP variant is kernels/arm/lmu_update.c). */
#include "lmu_update.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_LMU_UPDATE

void efm_lmu_update(const efm_lmu_update_params *p, const int8_t *u, const int32_t *a, const int32_t *b,
                    const int32_t *m0, int8_t *y, int32_t *m_out, int32_t *scratch) {
    const int32_t d = p->order, n = p->channels;
    const int64_t rnd = (int64_t)1 << (p->a_frac_bits - 1);
    for (int32_t ch = 0; ch < n; ch++) {
        int32_t *m = m_out + ch * d;
        for (int32_t i = 0; i < d; i++) {
            m[i] = m0 ? m0[ch * d + i] : 0;
        }
        for (int32_t t = 0; t < p->steps; t++) {
            const int64_t uc = (int64_t)u[t * n + ch] - p->input_zp;
            for (int32_t i = 0; i < d; i++) {
                const int32_t *ai = a + i * d;
                int64_t acc = 0;
                for (int32_t j = 0; j < d; j++) {
                    acc += (int64_t)ai[j] * m[j];
                }
                scratch[i] = (int32_t)efm_clamp64(((acc + rnd) >> p->a_frac_bits) + (int64_t)b[i] * uc,
                                                  EFM_INT32_MIN, EFM_INT32_MAX);
            }
            int8_t *yt = y + ((int64_t)t * n + ch) * d;
            for (int32_t i = 0; i < d; i++) {
                m[i] = scratch[i];
                yt[i] = (int8_t)efm_clamp64(efm_mbqm_single(m[i], p->mult, p->shift) + p->output_zp, -128, 127);
            }
        }
    }
}

#endif
