/* Portable reference MEAN (int8 and int16); the Cortex-M DSP variant is kernels/arm/mean.c, which calls the int8
 * loop as efm_mean_s8_portable where its fast paths do not apply and leaves int16 to this file. */
#include "mean.h"

#include "efm_kernel.h"

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

#ifdef EFM_ARM_MEAN
void efm_mean_s8_portable(const efm_mean_params *p, const int8_t *x, int8_t *y) {
#else
void efm_mean_s8(const efm_mean_params *p, const int8_t *x, int8_t *y) {
#endif
    EFM_MEAN_BODY(int8_t)
}

void efm_mean_s16(const efm_mean_params *p, const int16_t *x, int16_t *y) {
    EFM_MEAN_BODY(int16_t)
}
