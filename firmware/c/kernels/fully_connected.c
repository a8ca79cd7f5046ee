/* Portable reference FULLY_CONNECTED (the Cortex-M DSP variant is kernels/arm/fully_connected.c). */
#include "fully_connected.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_FULLY_CONNECTED

void efm_fully_connected(const efm_fully_connected_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         int8_t *y, void *scratch) {
    (void)scratch;
    const int32_t depth = p->depth;
    for (int32_t r = 0; r < p->rows; r++) {
        const int8_t *xr = x + (int32_t)r * depth;
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *wc = w + (int32_t)c * depth;
            int32_t acc = 0;
            for (int32_t k = 0; k < depth; k++) {
                acc += ((int32_t)xr[k] - p->input_zp) * (int32_t)wc[k];
            }
            int64_t total = (int64_t)acc + (bias ? bias[c] : 0);
            int64_t v = efm_mbqm_single(total, p->mult[c], p->shift[c]) + p->output_zp;
            y[(int32_t)r * p->cols + c] = (int8_t)efm_clamp64(v, p->act_min, p->act_max);
        }
    }
}

#endif
