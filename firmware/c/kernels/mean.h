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

#endif
