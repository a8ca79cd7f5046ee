/* LAYER_NORM_CHAIN: TensorFlow's int8 LayerNorm chain over the last axis as one kernel, every intermediate rounded
 * as the chain's own ops round it (docs/ops/LAYER_NORM_CHAIN.md):
 *   m = MEAN(x); c = SUB(x, m); s = SQUARED_DIFFERENCE(x, m) or MUL(c, c); v = MEAN(s);
 *   r = RSQRT(ADD(v, eps)) (one 256-entry table); n = MUL(c, r); [n = MUL(n, gamma)]; [n = ADD(n, beta)].
 * Each row: one pass for the mean, one for the variance, one for the normalization. */
#ifndef EFM_LAYER_NORM_CHAIN_H
#define EFM_LAYER_NORM_CHAIN_H

#include <stdint.h>

/* A binary elementwise stage of the chain (the fields of edgefmr's binary kernels, int8 output, no activation):
 * input zero points, the input rescale multipliers (ADD, SUB, SQUARED_DIFFERENCE) and the output multiplier. */
enum {
    EFM_LNC_A_ZP,
    EFM_LNC_B_ZP,
    EFM_LNC_A_MULT,
    EFM_LNC_A_SHIFT,
    EFM_LNC_B_MULT,
    EFM_LNC_B_SHIFT,
    EFM_LNC_MULT,
    EFM_LNC_SHIFT,
    EFM_LNC_ZP,
    EFM_LNC_STAGE
};

/* A MEAN stage: input zero point, multiplier and shift with 1/channels folded in, output zero point. */
enum { EFM_LNC_MEAN_IN_ZP, EFM_LNC_MEAN_MULT, EFM_LNC_MEAN_SHIFT, EFM_LNC_MEAN_ZP, EFM_LNC_MEAN };

typedef struct {
    int32_t rows;
    int32_t channels;
    int32_t square_form;                 /* 0: SQUARED_DIFFERENCE(x, m), 1: MUL(c, c) */
    int32_t mean[EFM_LNC_MEAN];          /* m = MEAN(x) */
    int32_t centered[EFM_LNC_STAGE];     /* c = SUB(x, m) */
    int32_t square[EFM_LNC_STAGE];       /* s */
    int32_t variance[EFM_LNC_MEAN];      /* v = MEAN(s) */
    const int8_t *rsqrt;                 /* r = RSQRT(ADD(v, eps)) at index v + 128 */
    int32_t normalized[EFM_LNC_STAGE];   /* n = MUL(c, r) */
    int32_t gamma_count;                 /* 0 (no gamma), 1 or channels */
    int32_t scaled[EFM_LNC_STAGE];       /* MUL(n, gamma) */
    int32_t beta_count;                  /* 0 (no beta), 1 or channels */
    int32_t shifted[EFM_LNC_STAGE];      /* ADD(., beta) */
    /* Cortex-M kernel: the SQUARED_DIFFERENCE-rescaled x and twice the SUB-rescaled x at index x + 128 (NULL for
     * the portable kernel). */
    const int16_t *square_table;
    const int32_t *centered_table;
} efm_layer_norm_chain_params;

/* x and y are [rows][channels]; gamma / beta hold gamma_count / beta_count values (NULL when absent). y may be x. */
void efm_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                          const int8_t *beta, int8_t *y);

#endif
