/* DEPTHWISE_CONV_2D: NHWC int8, weights [1][KH][KW][C * depth_multiplier], optional int32 bias, per-channel double
 * rounding (LiteRT). Output channel c * depth_multiplier + m reads input channel c. */
#ifndef EFM_DEPTHWISE_CONV_2D_H
#define EFM_DEPTHWISE_CONV_2D_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, depth_multiplier;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t input_zp, output_zp, act_min, act_max;
    const int32_t *mult;  /* per output channel */
    const int32_t *shift; /* per output channel */
} efm_depthwise_conv_2d_params;

/* bias may be NULL. */
void efm_depthwise_conv_2d(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y);

#endif
