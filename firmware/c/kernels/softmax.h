/* SOFTMAX over the last axis, int8 in, int8 out (scale 1/256, zero point -128), TFLite's gemmlowp arithmetic.
 *
 * exp_table[255 + d] holds exp(d) in Q0.31 for d = x - row max in [-255, 0], as edgefmr.ops.softmax evaluates it
 * from beta and the input scale (0 where d is below TFLite's diff_min: such inputs give -128). The row sum and its
 * reciprocal are computed here in gemmlowp fixed point. */
#ifndef EFM_SOFTMAX_H
#define EFM_SOFTMAX_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t depth;
    const int32_t *exp_table; /* 256 entries */
} efm_softmax_params;

void efm_softmax_s8(const efm_softmax_params *p, const int8_t *x, int8_t *y);

#endif
