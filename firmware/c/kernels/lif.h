/* LIF: multi-step leaky integrate-and-fire over the leading time axis (docs/ops/LIF.md): per neuron,
 * i = requant(x_t - zp) (single rounding), h = clamp(((v * D + 2^14) >> 15) + i), spike where h >= theta, hard
 * reset. Spikes are 0/1 bytes [T][N]; the final membrane is int32 [N]. Safe in place (spikes over an int8 input,
 * final membrane over the initial one). */
#ifndef EFM_LIF_H
#define EFM_LIF_H

#include <stdint.h>

typedef struct {
    int32_t steps;   /* T */
    int32_t neurons; /* N: elements per time step */
    int32_t input_zp, leak, mult, shift, theta;
    /* Cortex-M kernel (0 for the portable one): the leak as one SMMLAR / SMMULR multiplier, and the input current
     * as SMMULR(x * in_scale + in_offset, mult) where that is exact; mode bit 0: the leak is SMMLAR(v, leak32, v)
     * (else SMMULR(v, leak32)), bit 1: the 32-bit input current applies (else 64-bit). */
    int32_t leak32, in_scale, in_offset, mode;
} efm_lif_params;

/* x is int8 or int16 (x_bytes 1 or 2); v0 may be NULL (zeros). */
void efm_lif(const efm_lif_params *p, const void *x, int32_t x_bytes, const int32_t *v0, uint8_t *spikes,
             int32_t *v_out);

#endif
