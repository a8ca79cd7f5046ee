/* Portable CONCATENATION. */
#include "concatenation.h"

#include <string.h>

void efm_concatenation(const efm_concatenation_params *p, const void *const *inputs, void *y) {
    uint8_t *out = (uint8_t *)y;
    for (int32_t o = 0; o < p->outer; o++) {
        for (int32_t i = 0; i < p->n_inputs; i++) {
            const int32_t n = p->chunk_bytes[i];
            const uint8_t *src = (const uint8_t *)inputs[i] + o * n;
            const uint8_t *table = p->tables ? p->tables[i] : 0;
            if (table) {
                for (int32_t k = 0; k < n; k++) {
                    out[k] = table[src[k]];
                }
            } else if (src != out) {
                /* Inputs the planner placed inside the output (views) are already in place. */
                memmove(out, src, (size_t)n);
            }
            out += n;
        }
    }
}
