/* Portable reference LAYER_NORM_CHAIN: each stage computed as edgefmr's kernel of the chain's op computes it
 * (efm_lnc_row in layer_norm_chain.h). The Cortex-M DSP variant is kernels/arm/layer_norm_chain.c. */
#include "layer_norm_chain.h"

#ifndef EFM_ARM_LAYER_NORM_CHAIN

void efm_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                          const int8_t *beta, int8_t *y) {
    const int32_t ch = p->channels;
    for (int32_t r = 0; r < p->rows; r++) {
        efm_lnc_row(p, x + r * ch, gamma, beta, y + r * ch);
    }
}

void efm_add_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *a, const int8_t *b,
                              const int8_t *gamma, const int8_t *beta, int8_t *s, int8_t *y) {
    const int32_t ch = p->channels;
    for (int32_t r = 0; r < p->rows; r++, a += ch, b += ch, s += ch, y += ch) {
        for (int32_t i = 0; i < ch; i++) {
            s[i] = efm_lnc_add(p->residual, a[i], b[i]);
        }
        efm_lnc_row(p, s, gamma, beta, y);
    }
}

#endif
