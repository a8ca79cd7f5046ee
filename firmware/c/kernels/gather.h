/* GATHER with batch_dims: out[b][o][i][:] = params[b][o][indices[b][i]][:], rows of inner_bytes. Indices outside
 * [0, axis_size) (an error in the reference interpreter) give zero rows and set efm_gather_errors. */
#ifndef EFM_GATHER_H
#define EFM_GATHER_H

#include <stdint.h>

typedef struct {
    int32_t batch, outer, axis_size, n_indices;
    int32_t inner_bytes;
    int32_t index_size; /* 2, 4 or 8 bytes (int16 / int32 / int64 indices) */
} efm_gather_params;

extern volatile uint32_t efm_gather_errors;

void efm_gather(const efm_gather_params *p, const void *params, const void *indices, void *y);

#endif
