/* CONV_2D: NHWC int8 convolution, weights [O][KH][KW][I/groups], int32 bias, per-channel double rounding (LiteRT).
 * Taps outside the input are skipped (the same as padding with the input zero point); no im2col buffer. The
 * Cortex-M variant (kernels/arm/conv_2d.c) computes the same bits as a matrix product over a few im2col columns. */
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
    /* Cortex-M kernel only (0 for the portable loop): how it builds its im2col columns (EFM_CONV_COL_*), and the
     * padded depth K4 (k_h k_w k_c rounded up to a multiple of 4). Its weight argument is the packed rows of
     * kernels/arm/conv_2d.c, not [O][KH][KW][I], and its bias NULL (folded into the rows). */
    int32_t arm_cols, arm_k4;
    /* Cortex-M kernel, fewer than four output pixels (a matrix-vector product, e.g. a streaming step's one
     * window): the weights as int16 in the columns' lane order, output channels in pairs, per pair and group of 8
     * depth values the 8 weights of each channel; NULL where it does not apply. */
    const int16_t *arm_w16;
} efm_conv_2d_params;

/* im2col column builders of the Cortex-M kernel. */
#define EFM_CONV_COL_1X1 1   /* 1x1 window, k_c % 4 == 0: each column is the input pixel itself */
#define EFM_CONV_COL_TAPS 2  /* k_c % 4 == 0: whole taps (rows of taps where they are inside the input) */
#define EFM_CONV_COL_ROWS 3  /* k_w k_c % 4 == 0, dil_w 1, no horizontal padding: whole rows of taps */
#define EFM_CONV_COL_BYTES 4 /* any shape: the column is gathered byte by byte into the scratch first */

/* scratch: the Cortex-M kernel's im2col columns (NULL for the portable kernel). */
void efm_conv_2d(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                 void *scratch);

#ifdef EFM_ARM_CONV_2D
/* The portable loop (kernels/conv_2d.c), which Cortex-M builds call where the Cortex-M kernel does not apply. */
void efm_conv_2d_portable(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                          int8_t *y);
/* The small-depth path (k_h k_w in_c <= 8; w: the emitter's packed rows): a model whose convolutions all take it
 * links none of the four-column path. */
void efm_conv_2d_small(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, int8_t *y);
#endif

#endif
