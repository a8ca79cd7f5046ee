/* RELU / RELU6 on int16 (8-bit tensors use the lut kernel): max(lo, min(hi, zp_y + requant(x - zp_x))),
 * gemmlowp double rounding as LiteRT's ReluX. */
#ifndef EFM_RELU_H
#define EFM_RELU_H

#include <stdint.h>

typedef struct {
    int32_t n;
    int32_t input_zp, output_zp, mult, shift, lo, hi;
} efm_relu_params;

void efm_relu_s16(const efm_relu_params *p, const int16_t *x, int16_t *y);

#endif
