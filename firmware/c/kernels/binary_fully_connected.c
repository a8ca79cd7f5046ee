/* Portable reference BINARY_FULLY_CONNECTED (the Cortex-M DSP variant is kernels/arm/binary_fully_connected.c). */
#include "binary_fully_connected.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_BINARY_FULLY_CONNECTED

void efm_binary_fully_connected(const efm_binary_fully_connected_params *p, const int8_t *x, const uint8_t *w,
                                const int32_t *bias, int8_t *y, void *scratch) {
    (void)scratch;
    for (int32_t r = 0; r < p->rows; r++, x += p->depth, y += p->cols) {
        int32_t total = 0;
        for (int32_t k = 0; k < p->depth; k++) {
            total += (int32_t)x[k] - p->input_zp;
        }
        for (int32_t o = 0; o < p->cols; o++) {
            const uint8_t *wo = w + o * p->row_bytes;
            int32_t selected = 0;
            for (int32_t k = 0; k < p->depth; k++) {
                if ((wo[k >> 3] >> (k & 7)) & 1u) {
                    selected += (int32_t)x[k] - p->input_zp;
                }
            }
            const int64_t acc = 2 * (int64_t)selected - total + (bias ? bias[o] : 0);
            const int64_t v = efm_mbqm_single(acc, p->mult[o], p->shift[o]) + p->output_zp;
            y[o] = (int8_t)efm_clamp64(v, p->act_min, p->act_max);
        }
    }
}

#endif
