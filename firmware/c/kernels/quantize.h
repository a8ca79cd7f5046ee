/* QUANTIZE: float32 -> int8/uint8/int16 (float32 division, round half away from zero, saturate, as LiteRT's
 * AffineQuantize), and int16/int32 -> integer requantization (double rounding). 8-bit integer inputs use the
 * lut kernel. */
#ifndef EFM_QUANTIZE_H
#define EFM_QUANTIZE_H

#include <stdint.h>

typedef struct {
    int32_t n;
    float scale;      /* float inputs: the output scale */
    int32_t input_zp; /* integer inputs */
    int32_t output_zp;
    int32_t mult, shift; /* integer inputs */
    int32_t qmin, qmax;
    int32_t out_size; /* bytes per output element: 1, 2 or 4 */
} efm_quantize_params;

void efm_quantize_f32(const efm_quantize_params *p, const float *x, void *y);
void efm_quantize_s16(const efm_quantize_params *p, const int16_t *x, void *y);
void efm_quantize_s32(const efm_quantize_params *p, const int32_t *x, void *y);

#endif
