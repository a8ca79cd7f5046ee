/* Portable reference LAYER_NORM_CHAIN: each stage computed as edgefmr's kernel of the chain's op computes it. */
#include "layer_norm_chain.h"

#include "efm_kernel.h"

static int8_t efm_lnc_finish(const int32_t *s, int64_t acc) {
    return (int8_t)efm_clamp64(efm_wrap32((int64_t)efm_wrap32(acc) + s[EFM_LNC_ZP]), -128, 127);
}

/* An input of ADD / SUB / SQUARED_DIFFERENCE brought to the common scale: mbqm((v - zp) << left, mult, shift). */
static int64_t efm_lnc_rescale(int32_t v, int32_t zp, int32_t left, int32_t mult, int32_t shift) {
    return efm_mbqm_wrap((int64_t)(v - zp) * ((int64_t)1 << left), mult, shift);
}

static int8_t efm_lnc_sub(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 20, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 20, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap(ra - rb, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static int8_t efm_lnc_add(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 20, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 20, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap(ra + rb, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static int8_t efm_lnc_squared_difference(const int32_t *s, int32_t a, int32_t b) {
    const int64_t ra = efm_lnc_rescale(a, s[EFM_LNC_A_ZP], 7, s[EFM_LNC_A_MULT], s[EFM_LNC_A_SHIFT]);
    const int64_t rb = efm_lnc_rescale(b, s[EFM_LNC_B_ZP], 7, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT]);
    return efm_lnc_finish(s, efm_mbqm_wrap((ra - rb) * (ra - rb), s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static int8_t efm_lnc_mul(const int32_t *s, int32_t a, int32_t b) {
    const int64_t prod = (int64_t)(a - s[EFM_LNC_A_ZP]) * (b - s[EFM_LNC_B_ZP]);
    return efm_lnc_finish(s, efm_mbqm_wrap(prod, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT]));
}

static int8_t efm_lnc_mean(const int32_t *s, int64_t total, int32_t n) {
    const int64_t v = efm_mbqm_double(total - (int64_t)s[EFM_LNC_MEAN_IN_ZP] * n, s[EFM_LNC_MEAN_MULT],
                                      s[EFM_LNC_MEAN_SHIFT]);
    return (int8_t)efm_clamp64(v + s[EFM_LNC_MEAN_ZP], -128, 127);
}

void efm_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                          const int8_t *beta, int8_t *y) {
    const int32_t ch = p->channels;
    for (int32_t r = 0; r < p->rows; r++, x += ch, y += ch) {
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
            int32_t n = efm_lnc_mul(p->normalized, efm_lnc_sub(p->centered, x[i], m), rs);
            if (p->gamma_count) {
                n = efm_lnc_mul(p->scaled, n, gamma[p->gamma_count == 1 ? 0 : i]);
            }
            if (p->beta_count) {
                n = efm_lnc_add(p->shifted, n, beta[p->beta_count == 1 ? 0 : i]);
            }
            y[i] = (int8_t)n;
        }
    }
}
