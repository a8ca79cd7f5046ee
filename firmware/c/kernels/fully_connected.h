/* FULLY_CONNECTED: y[r][c] = requant(sum_k (x[r][k] - zp_x) * w[c][k] + bias[c]), single rounding (LiteRT). */
#ifndef EFM_FULLY_CONNECTED_H
#define EFM_FULLY_CONNECTED_H

#include <stdint.h>

typedef struct {
    int32_t rows;  /* input rows (batch x tokens) */
    int32_t depth; /* input features */
    int32_t cols;  /* output features */
    int32_t input_zp;
    int32_t output_zp;
    int32_t act_min;
    int32_t act_max;
    const int32_t *mult;     /* per output feature */
    const int32_t *shift;    /* per output feature */
    const int64_t *bias_adj; /* Cortex-M kernel: bias - input_zp * sum(w) per output feature; else NULL */
    /* Cortex-M kernel, per output feature c: {mult, offset, right shift, bias_adj of feature c + 1} of the 32-bit
     * requantization (right shift 0: the SMMULR form), or right shift -2 where it does not apply (the 64-bit path
     * is used); feature c's bias_adj is requant32[4 * c - 1] (the first one before the table); else NULL. */
    const int32_t *requant32;
    /* Cortex-M kernel: rows unpacked together at most (6 or 4; the scratch holds them) by the assembly panels, or 0
     * where they do not apply (depth % 4 != 0 or a feature without the 32-bit requantization: the C paths) */
    int32_t arm_block_rows;
    /* Cortex-M kernel, ops with fewer than 4 rows (a streaming step's matrix-vector products): the weights as int16,
     * output features in pairs, per pair and group of 8 inputs the 8 weights of each feature
     * ([cols / 2][depth / 8][2][8]); NULL where it does not apply (the single-row C path is used). */
    const int16_t *w16;
} efm_fully_connected_params;

/* bias may be NULL; w is [cols][depth] row-major. scratch: the Cortex-M kernel's unpacked rows (NULL for the
 * portable kernel). */
void efm_fully_connected(const efm_fully_connected_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         int8_t *y, void *scratch);

#endif
