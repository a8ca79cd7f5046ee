/* MEAN over any set of axes: requant(sum - zp_x * n) with 1/n folded into the multiplier, double rounding (LiteRT).
 * The output iterates the kept axes (input strides out_stride), each output sums the reduced axes (red_stride). */
#ifndef EFM_MEAN_H
#define EFM_MEAN_H

#include <stdint.h>

#define EFM_MEAN_MAX_DIMS 8

typedef struct {
    int32_t out_ndim;
    int32_t out_count[EFM_MEAN_MAX_DIMS];
    int32_t out_stride[EFM_MEAN_MAX_DIMS];
    int32_t red_ndim;
    int32_t red_count[EFM_MEAN_MAX_DIMS];
    int32_t red_stride[EFM_MEAN_MAX_DIMS];
    int32_t n; /* elements per mean */
    int32_t input_zp, output_zp, mult, shift, qmin, qmax;
} efm_mean_params;

void efm_mean_s8(const efm_mean_params *p, const int8_t *x, int8_t *y);
void efm_mean_s16(const efm_mean_params *p, const int16_t *x, int16_t *y);
#ifdef EFM_ARM_MEAN
/* The portable int8 loop (kernels/mean.c), which the Cortex-M kernel calls where its fast paths do not apply. */
void efm_mean_s8_portable(const efm_mean_params *p, const int8_t *x, int8_t *y);
#endif

/* Advances the counters idx over count (last axis fastest); returns the change of the element offset, and sets
 * *done when every index wrapped around. */
static inline int32_t efm_mean_step(int32_t ndim, const int32_t *count, const int32_t *stride, int32_t *idx,
                                    int *done) {
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

#endif
