/* Portable reference DEQUANTIZE (the paths that are not a table lookup). Outputs are wider than the inputs:
 * in place, the loops run backwards. */
#include "dequantize.h"

#define EFM_DEQUANT_PC_BODY                                                                                     \
    for (int32_t o = p->outer - 1; o >= 0; o--) {                                                               \
        for (int32_t c = p->channels - 1; c >= 0; c--) {                                                        \
            const int32_t base = (o * p->channels + c) * p->inner;                                              \
            for (int32_t i = p->inner - 1; i >= 0; i--) {                                                       \
                y[base + i] = (float)((int32_t)x[base + i] - p->zero_point[c]) * p->scale[c];                   \
            }                                                                                                   \
        }                                                                                                       \
    }

void efm_dequantize_pc_s8(const efm_dequantize_pc_params *p, const int8_t *x, float *y) {
    EFM_DEQUANT_PC_BODY
}

void efm_dequantize_pc_u8(const efm_dequantize_pc_params *p, const uint8_t *x, float *y) {
    EFM_DEQUANT_PC_BODY
}

void efm_dequantize_s16(int32_t n, double scale, int32_t zero_point, const int16_t *x, float *y) {
    for (int32_t i = n - 1; i >= 0; i--) {
        y[i] = (float)(scale * (double)((int32_t)x[i] - zero_point));
    }
}
