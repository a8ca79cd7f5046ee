/* Portable reference MEAN (int8 and int16); the Cortex-M DSP variant is kernels/arm/mean.c. */
#include "mean.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_MEAN

/* Advances the counters idx over count (last axis fastest); returns the change of the element offset, and sets
 * *done when every index wrapped around. */
static int32_t efm_mean_step(int32_t ndim, const int32_t *count, const int32_t *stride, int32_t *idx, int *done) {
    int32_t delta = 0;
    for (int32_t d = ndim - 1; d >= 0; d--) {
        idx[d]++;
        delta += stride[d];
        if (idx[d] < count[d]) {
            return delta;
        }
        delta -= stride[d] * count[d];
        idx[d] = 0;
    }
    *done = 1;
    return delta;
}

#define EFM_MEAN_BODY(T)                                                                                        \
    int32_t oidx[EFM_MEAN_MAX_DIMS] = {0};                                                                      \
    int32_t base = 0;                                                                                           \
    int done = 0;                                                                                               \
    while (!done) {                                                                                             \
        int32_t ridx[EFM_MEAN_MAX_DIMS] = {0};                                                                  \
        int32_t pos = base;                                                                                     \
        int64_t total = 0;                                                                                      \
        int rdone = 0;                                                                                          \
        while (!rdone) {                                                                                        \
            total += x[pos];                                                                                    \
            pos += efm_mean_step(p->red_ndim, p->red_count, p->red_stride, ridx, &rdone);                       \
        }                                                                                                       \
        int64_t v = efm_mbqm_double(total - (int64_t)p->input_zp * p->n, p->mult, p->shift) + p->output_zp;     \
        *y++ = (T)efm_clamp64(v, p->qmin, p->qmax);                                                             \
        base += efm_mean_step(p->out_ndim, p->out_count, p->out_stride, oidx, &done);                           \
    }

void efm_mean_s8(const efm_mean_params *p, const int8_t *x, int8_t *y) {
    EFM_MEAN_BODY(int8_t)
}

void efm_mean_s16(const efm_mean_params *p, const int16_t *x, int16_t *y) {
    EFM_MEAN_BODY(int16_t)
}

#endif
