/* Portable table-lookup kernels (the Cortex-M variant is kernels/arm/lut.c). */
#include "lut.h"

#ifndef EFM_ARM_LUT

void efm_lut_s8_to8(int32_t n, const uint8_t *table, const int8_t *x, uint8_t *y) {
    for (int32_t i = 0; i < n; i++) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}

void efm_lut_u8_to8(int32_t n, const uint8_t *table, const uint8_t *x, uint8_t *y) {
    for (int32_t i = 0; i < n; i++) {
        y[i] = table[x[i]];
    }
}

/* Backwards: the output elements are wider than the input ones, so in place the tail is written first. */
void efm_lut_s8_to32(int32_t n, const uint32_t *table, const int8_t *x, uint32_t *y) {
    for (int32_t i = n - 1; i >= 0; i--) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}

void efm_lut_u8_to32(int32_t n, const uint32_t *table, const uint8_t *x, uint32_t *y) {
    for (int32_t i = n - 1; i >= 0; i--) {
        y[i] = table[x[i]];
    }
}

#endif
