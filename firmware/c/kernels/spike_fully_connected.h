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
} efm_spike_fully_connected_params;

/* bias may be NULL; spikes are bytes, any nonzero value is a spike. */
void efm_spike_fully_connected(const efm_spike_fully_connected_params *p, const uint8_t *spikes, const int8_t *w,
                               const int32_t *bias, int8_t *y);

#endif
