/* DEQUANTIZE to float32 as LiteRT's reference kernel. 8-bit per-tensor inputs use the lut kernel (a float table
 * made by edgefmr.ops.dequantize); per-channel 8-bit inputs compute float32(q - zp[c]) * scale[c] in float32;
 * int16 inputs compute float32(double(scale) * (q - zp)) (IEEE double, software on cores without it). */
#ifndef EFM_DEQUANTIZE_H
#define EFM_DEQUANTIZE_H

#include <stdint.h>

typedef struct {
    int32_t outer, channels, inner; /* per-channel: shape seen as [outer][channels][inner] */
    const int32_t *zero_point;      /* per channel */
    const float *scale;             /* per channel */
} efm_dequantize_pc_params;

void efm_dequantize_pc_s8(const efm_dequantize_pc_params *p, const int8_t *x, float *y);
void efm_dequantize_pc_u8(const efm_dequantize_pc_params *p, const uint8_t *x, float *y);
void efm_dequantize_s16(int32_t n, double scale, int32_t zero_point, const int16_t *x, float *y);

#endif
