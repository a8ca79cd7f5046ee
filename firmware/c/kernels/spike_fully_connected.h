/* SPIKE_FULLY_CONNECTED: acc[o] = sum of w[o][k] over the inputs k that spiked (nonzero), + bias, additions only,
 * then FULLY_CONNECTED's single-rounding requantization. */
#ifndef EFM_SPIKE_FULLY_CONNECTED_H
#define EFM_SPIKE_FULLY_CONNECTED_H

#include <stdint.h>

typedef struct {
    int32_t rows, depth, cols;
    int32_t output_zp, act_min, act_max;
    const int32_t *mult;  /* per output feature */
    const int32_t *shift; /* per output feature */
    /* Cortex-M kernel (else 0 / NULL): the output features padded to a multiple of 4 (the row length of its
     * transposed weights), and per output feature {bias, M, round + (zp << rshift), rshift} of its 32-bit
     * requantization, or NULL where that is not exact (the 64-bit path is used). */
    int32_t cols_pad;
    const int32_t *requant32;
    /* Cortex-M kernel: nonzero where there is one output feature and every input's weight is this value (a spike
     * count, e.g. a column sum over tokens): acc = weight x the number of nonzero input bytes. */
    int32_t arm_count;
} efm_spike_fully_connected_params;

/* bias may be NULL; spikes are bytes, any nonzero value is a spike. w is [cols][depth] for the portable kernel;
 * the Cortex-M kernel takes it transposed, [depth + 1][cols_pad] (zero-padded, and a last row of zeros). scratch:
 * the Cortex-M kernel's list of active inputs, (depth + 3) int32 (NULL for the portable kernel). */
void efm_spike_fully_connected(const efm_spike_fully_connected_params *p, const uint8_t *spikes, const int8_t *w,
                               const int32_t *bias, int8_t *y, void *scratch);

#endif
