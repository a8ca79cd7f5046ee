/* 256-entry table lookups: every elementwise op whose 8-bit input alone decides the output (LOGISTIC, TANH,
 * RSQRT, RELU/RELU6 and QUANTIZE on 8-bit tensors, DEQUANTIZE of 8-bit per-tensor values). The tables are built at
 * generation time by the op's own numpy code, so the C side is one load per element. */
#ifndef EFM_LUT_H
#define EFM_LUT_H

#include <stdint.h>

/* y[i] = table[x[i] + 128] (int8 input) or table[x[i]] (uint8 input), 8-bit outputs. Safe in place. */
void efm_lut_s8_to8(int32_t n, const uint8_t *table, const int8_t *x, uint8_t *y);
void efm_lut_u8_to8(int32_t n, const uint8_t *table, const uint8_t *x, uint8_t *y);
/* The same with 32-bit table entries (float32 bit patterns for DEQUANTIZE). */
void efm_lut_s8_to32(int32_t n, const uint32_t *table, const int8_t *x, uint32_t *y);
void efm_lut_u8_to32(int32_t n, const uint32_t *table, const uint8_t *x, uint32_t *y);

#endif
