/* LAYER_NORM_CHAIN: TensorFlow's int8 LayerNorm chain over the last axis as one kernel, every intermediate rounded
 * as the chain's own ops round it (docs/ops/LAYER_NORM_CHAIN.md):
 *   m = MEAN(x); c = SUB(x, m); s = SQUARED_DIFFERENCE(x, m) or MUL(c, c); v = MEAN(s);
 *   r = RSQRT(ADD(v, eps)) (one 256-entry table); n = MUL(c, r); [n = MUL(n, gamma)]; [n = ADD(n, beta)].
 * Each row: one pass for the mean, one for the variance, one for the normalization. ADD_LAYER_NORM_CHAIN runs a
 * residual ADD first (s = ADD(a, b), output too) and the chain on s. */
#ifndef EFM_LAYER_NORM_CHAIN_H
#define EFM_LAYER_NORM_CHAIN_H

#include <stdint.h>

#include "efm_kernel.h"

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
    int32_t gamma_form;                  /* 0: n = MUL(MUL(c, r), gamma), 1: n = MUL(c, MUL(r, gamma)) */
    int32_t mean[EFM_LNC_MEAN];          /* m = MEAN(x) */
    int32_t centered[EFM_LNC_STAGE];     /* c = SUB(x, m) */
    int32_t square[EFM_LNC_STAGE];       /* s */
    int32_t variance[EFM_LNC_MEAN];      /* v = MEAN(s) */
    const int8_t *rsqrt;                 /* r = RSQRT(ADD(v, eps)) at index v + 128 */
    int32_t normalized[EFM_LNC_STAGE];   /* n = MUL(c, r) (gamma_form 1: MUL(c, MUL(r, gamma))) */
    int32_t gamma_count;                 /* 0 (no gamma), 1 or channels */
    int32_t scaled[EFM_LNC_STAGE];       /* MUL(n, gamma) (gamma_form 1: MUL(r, gamma)) */
    int32_t beta_count;                  /* 0 (no beta), 1 or channels */
    int32_t shifted[EFM_LNC_STAGE];      /* ADD(., beta) */
    int32_t residual[EFM_LNC_STAGE];     /* ADD_LAYER_NORM_CHAIN: s = ADD(a, b) */
    /* Cortex-M kernel: the SQUARED_DIFFERENCE-rescaled x, twice the SUB-rescaled x, and twice the rescaled a and b
     * of the residual ADD, at index value + 128 (NULL for the portable kernel or when unused). */
    const uint32_t *square_table; /* packed in both int16 halves */
    const int32_t *centered_table;
    const int32_t *residual_a_table;
    const int32_t *residual_b_table;
    /* Cortex-M kernel, with gamma / beta: (gamma_i - zp) << (left + 1) per gamma value (NULL where that could
     * overflow), twice the rescaled beta_i per beta value, twice ADD's rescaled n at index n + 128. */
    const int32_t *gamma_table;
    const int32_t *beta_table;
    const int32_t *shifted_table;
    /* Cortex-M kernel, gamma and / or beta with gamma_form 0 (NULL where the emitter found no exact form): per
     * channel {g, k} of MUL(n, gamma) as v = n g + k (then its 32-bit requantization {k_s, M, e}, repeated per
     * channel when beta follows) and {A, B low, B high} of ADD(s, beta) as ssat8(hi32((s << 8) A + B)). */
    const int32_t *affine_table;
    /* Cortex-M kernel: requantizations that need no sign correction (bit 0: SUB(x, m), 1: MUL(c, r), 2: MUL(n,
     * gamma); checked by the emitter on every input pair). */
    int32_t arm_round;
} efm_layer_norm_chain_params;

/* x and y are [rows][channels]; gamma / beta hold gamma_count / beta_count values (NULL when absent). y may be x. */
void efm_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                          const int8_t *beta, int8_t *y);

/* s = ADD(a, b) and y = the chain of s; a, b, s, y are [rows][channels] (b of the same layout). */
void efm_add_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *a, const int8_t *b,
                              const int8_t *gamma, const int8_t *beta, int8_t *s, int8_t *y);

static inline int8_t efm_lnc_finish(const int32_t *s, int64_t acc) {
    return (int8_t)efm_clamp64(efm_wrap32((int64_t)efm_wrap32(acc) + s[EFM_LNC_ZP]), -128, 127);
}

/* An input of ADD / SUB / SQUARED_DIFFERENCE brought to the common scale: mbqm((v - zp) << left, mult, shift). */
static inline int64_t efm_lnc_rescale(int32_t v, int32_t zp, int32_t left, int32_t mult, int32_t shift) {
    return efm_mbqm_wrap((int64_t)(v - zp) * ((int64_t)1 << left), mult, shift);
}

static inline int8_t efm_lnc_sub(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 20, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 20, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap(ra - rb, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static inline int8_t efm_lnc_add(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 20, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 20, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap(ra + rb, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static inline int8_t efm_lnc_squared_difference(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 7, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 7, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap((ra - rb) * (ra - rb), s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static inline int8_t efm_lnc_mul(const int32_t *s, int32_t a, int32_t b) {
    const int64_t prod = (int64_t)(a - s[EFM_LNC_A_ZP]) * (b - s[EFM_LNC_B_ZP]);
    return efm_lnc_finish(s, efm_mbqm_wrap(prod, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static inline int8_t efm_lnc_mean(const int32_t *s, int64_t total, int32_t n) {
    const int64_t v = efm_mbqm_double(total - (int64_t)s[EFM_LNC_MEAN_IN_ZP] * n, s[EFM_LNC_MEAN_MULT],
                                      s[EFM_LNC_MEAN_SHIFT]);
    return (int8_t)efm_clamp64(v + s[EFM_LNC_MEAN_ZP], -128, 127);
}

/* One row, every stage as edgefmr's kernel of the chain's op computes it (the portable kernel; the Cortex-M kernel's
 * fallback where its 32-bit arithmetic would not be exact). */
static inline void efm_lnc_row(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                               const int8_t *beta, int8_t *y) {
    const int32_t ch = p->channels;
    int64_t total = 0;
    for (int32_t i = 0; i < ch; i++) {
        total += x[i];
    }
    const int32_t m = efm_lnc_mean(p->mean, total, ch);
    int64_t squares = 0;
    for (int32_t i = 0; i < ch; i++) {
        if (p->square_form == 0) {
            squares += efm_lnc_squared_difference(p->square, x[i], m);
        } else {
            const int32_t c = efm_lnc_sub(p->centered, x[i], m);
            squares += efm_lnc_mul(p->square, c, c);
        }
    }
    const int32_t v = efm_lnc_mean(p->variance, squares, ch);
    const int32_t rs = p->rsqrt[v + 128];
    for (int32_t i = 0; i < ch; i++) {
        const int32_t c = efm_lnc_sub(p->centered, x[i], m);
        int32_t n;
        if (p->gamma_form) {
            n = efm_lnc_mul(p->normalized, c, efm_lnc_mul(p->scaled, rs, gamma[p->gamma_count == 1 ? 0 : i]));
        } else {
            n = efm_lnc_mul(p->normalized, c, rs);
            if (p->gamma_count) {
                n = efm_lnc_mul(p->scaled, n, gamma[p->gamma_count == 1 ? 0 : i]);
            }
        }
        if (p->beta_count) {
            n = efm_lnc_add(p->shifted, n, beta[p->beta_count == 1 ? 0 : i]);
        }
        y[i] = (int8_t)n;
    }
}

#endif
