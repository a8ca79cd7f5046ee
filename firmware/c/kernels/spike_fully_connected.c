/* Portable reference SPIKE_FULLY_CONNECTED (the Cortex-M DSP variant is kernels/arm/spike_fully_connected.c). */
#include "spike_fully_connected.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_SPIKE_FULLY_CONNECTED

void efm_spike_fully_connected(const efm_spike_fully_connected_params *p, const uint8_t *spikes, const int8_t *w,
                               const int32_t *bias, int8_t *y, void *scratch) {
    (void)scratch;
    for (int32_t r = 0; r < p->rows; r++, spikes += p->depth, y += p->cols) {
        for (int32_t o = 0; o < p->cols; o++) {
            const int8_t *wo = w + o * p->depth;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; k++) {
                if (spikes[k]) {
                    acc += wo[k];
                }
            }
            const int64_t v = efm_mbqm_single((int64_t)acc + (bias ? bias[o] : 0), p->mult[o], p->shift[o]) +
                              p->output_zp;
            y[o] = (int8_t)efm_clamp64(v, p->act_min, p->act_max);
        }
    }
}

#endif
