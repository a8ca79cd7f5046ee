/* CONV_2D: NHWC int8 convolution, weights [O][KH][KW][I/groups], int32 bias, per-channel double rounding (LiteRT).
 * Taps outside the input are skipped (the same as padding with the input zero point); no im2col buffer. */
#ifndef EFM_CONV_2D_H
#define EFM_CONV_2D_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, k_c; /* k_c: input channels per group */
    int32_t groups;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t input_zp, output_zp, act_min, act_max;
    const int32_t *mult;  /* per output channel */
    const int32_t *shift; /* per output channel */
} efm_conv_2d_params;

void efm_conv_2d(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y);

#endif
