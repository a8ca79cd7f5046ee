/* BINARY_FULLY_CONNECTED: packed +-1 weights (bit k of row o in bit k % 8 of byte k / 8; 1 = +1):
 * acc = 2 * (sum of the inputs whose bit is set) - (sum of all inputs) + bias, additions only, then
 * FULLY_CONNECTED's single-rounding requantization. */
#ifndef EFM_BINARY_FULLY_CONNECTED_H
#define EFM_BINARY_FULLY_CONNECTED_H

#include <stdint.h>

typedef struct {
    int32_t rows, depth, cols;
    int32_t row_bytes; /* packed bytes per weight row: ceil(depth / 8) */
    int32_t input_zp, output_zp, act_min, act_max;
    const int32_t *mult;  /* per output feature */
    const int32_t *shift; /* per output feature */
    /* Cortex-M kernel (else NULL): per output feature bias - 2 (128 + input_zp) popcount(weight row). */
    const int64_t *bias_adj;
} efm_binary_fully_connected_params;

/* bias may be NULL. scratch: the Cortex-M kernel's input row as unsigned bytes, ceil(depth / 8) * 8 bytes (NULL
 * for the portable kernel). */
void efm_binary_fully_connected(const efm_binary_fully_connected_params *p, const int8_t *x, const uint8_t *w,
                                const int32_t *bias, int8_t *y, void *scratch);

#endif
