/* DEPTHWISE_CONV_2D: NHWC int8, weights [1][KH][KW][C * depth_multiplier], optional int32 bias, per-channel double
 * rounding (LiteRT). Output channel c * depth_multiplier + m reads input channel c. The Cortex-M variant is
 * kernels/arm/depthwise_conv_2d.c. */
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

/* bias may be NULL. The Cortex-M kernel takes the packed groups of kernels/arm/depthwise_conv_2d.c as w, bias NULL,
 * and its zero-point row and tap tables in scratch (NULL for the portable kernel). */
void efm_depthwise_conv_2d(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y, void *scratch);

#ifdef EFM_ARM_DEPTHWISE_CONV_2D
/* The portable loop (kernels/depthwise_conv_2d.c), which Cortex-M builds call where the packing does not apply. */
void efm_depthwise_conv_2d_portable(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                                    const int32_t *bias, int8_t *y);
#endif

#endif
