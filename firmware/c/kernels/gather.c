/* Portable GATHER. */
#include "gather.h"

#include <string.h>

volatile uint32_t efm_gather_errors;

static int64_t efm_index(const void *indices, int32_t i, int32_t size) {
    if (size == 2) {
        return ((const int16_t *)indices)[i];
    }
    if (size == 4) {
        return ((const int32_t *)indices)[i];
    }
    return ((const int64_t *)indices)[i];
}

void efm_gather(const efm_gather_params *p, const void *params, const void *indices, void *y) {
    const uint8_t *src = (const uint8_t *)params;
    uint8_t *out = (uint8_t *)y;
    const int32_t row = p->inner_bytes;
    for (int32_t b = 0; b < p->batch; b++) {
        for (int32_t o = 0; o < p->outer; o++) {
            const uint8_t *block = src + ((int32_t)b * p->outer + o) * p->axis_size * row;
            for (int32_t i = 0; i < p->n_indices; i++) {
                const int64_t k = efm_index(indices, b * p->n_indices + i, p->index_size);
                if (k < 0 || k >= p->axis_size) {
                    memset(out, 0, (size_t)row);
                    efm_gather_errors++;
                } else {
                    memcpy(out, block + (int32_t)k * row, (size_t)row);
                }
                out += row;
            }
        }
    }
}
