/* CONCATENATION along one axis: for each of `outer` blocks, each input's chunk in turn. uint8 inputs whose
 * quantization differs from the output's go through a 256-entry table (TFLite's float32 rescaling, computed at
 * generation time by edgefmr.ops.concatenation); other inputs are copied. */
#ifndef EFM_CONCATENATION_H
#define EFM_CONCATENATION_H

#include <stdint.h>

typedef struct {
    int32_t outer;
    int32_t n_inputs;
    const int32_t *chunk_bytes; /* per input: bytes per outer block */
    const uint8_t *const *tables; /* per input: NULL, or the uint8 rescaling table */
} efm_concatenation_params;

/* inputs: n_inputs pointers (a local array at the call: inside fused row blocks they move with the block). */
void efm_concatenation(const efm_concatenation_params *p, const void *const *inputs, void *y);

#endif
