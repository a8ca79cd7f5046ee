/* SOFTMAX over the last axis, int8 in, int8 out (scale 1/256, zero point -128), TFLite's gemmlowp arithmetic.
 *
 * exp_table[255 + d] holds exp(d) in Q0.31 for d = x - row max in [-255, 0], as edgefmr.ops.softmax evaluates it
 * from beta and the input scale (0 where d is below TFLite's diff_min: such inputs give -128). The row sum and its
 * reciprocal are computed here in gemmlowp fixed point. CLIPPED_SOFTMAX is this kernel followed by its
 * integer affine-and-clip, a function of the int8 softmax output alone: post_table[p + 128]. Safe in place. */
#ifndef EFM_SOFTMAX_H
#define EFM_SOFTMAX_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t depth;
    const int32_t *exp_table;  /* 256 entries */
    const uint8_t *post_table; /* NULL, or CLIPPED_SOFTMAX's affine-and-clip of each int8 result (256 entries) */
} efm_softmax_params;

void efm_softmax_s8(const efm_softmax_params *p, const int8_t *x, int8_t *y);

#endif
