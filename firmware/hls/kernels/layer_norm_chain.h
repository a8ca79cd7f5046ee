/* LAYER_NORM_CHAIN (docs/ops/LAYER_NORM_CHAIN.md): TensorFlow's int8 LayerNorm chain with every intermediate
 * rounding, each stage the arithmetic of its op's kernel (mean, SUB, SQUARED_DIFFERENCE or MUL(c, c), mean,
 * RSQRT(ADD(v, eps)) as a 256-entry table, MUL, optional MUL gamma and ADD beta). The row is stored once while its
 * sum accumulates; one pass sums the squares, one writes the outputs. One requantization unit per layer, shared
 * by the stages (ALLOCATION limit 1): the squares pass runs at II = P::var_ii (3 or 4 requantizations per
 * element), the output pass at II = P::norm_ii (4 to 8).
 * Cycles per row: channels x (1 + var_ii + norm_ii) (+ the pipeline depths). */
#ifndef EFM_HLS_LAYER_NORM_CHAIN_H
#define EFM_HLS_LAYER_NORM_CHAIN_H

#include "efm_hls.h"

namespace efm {

/* Stage fields, as kernels/layer_norm_chain.h of the C backend. */
enum { LNC_A_ZP, LNC_B_ZP, LNC_A_MULT, LNC_A_SHIFT, LNC_B_MULT, LNC_B_SHIFT, LNC_MULT, LNC_SHIFT, LNC_ZP };
enum { LNC_MEAN_IN_ZP, LNC_MEAN_MULT, LNC_MEAN_SHIFT, LNC_MEAN_ZP };

inline int32_t lnc_finish(const int *s, int64_t acc) {
    return (int32_t)clamp64(wrap32((int64_t)wrap32(acc) + s[LNC_ZP]), -128, 127);
}

inline int64_t lnc_rescale(int32_t v, int32_t zp, int32_t left, int32_t mult, int32_t shift) {
    return mbqm_double((int64_t)(v - zp) * ((int64_t)1 << left), mult, shift);
}

/* SUB (sign -1), ADD (sign +1): inputs rescaled with left shift 20. */
inline int32_t lnc_add_sub(const int *s, int32_t a, int32_t b, int32_t sign) {
    const int64_t ra = lnc_rescale(a, s[LNC_A_ZP], 20, s[LNC_A_MULT], s[LNC_A_SHIFT]);
    const int64_t rb = lnc_rescale(b, s[LNC_B_ZP], 20, s[LNC_B_MULT], s[LNC_B_SHIFT]);
    return lnc_finish(s, mbqm_double(ra + sign * rb, s[LNC_MULT], s[LNC_SHIFT]));
}

inline int32_t lnc_squared_difference(const int *s, int32_t a, int32_t b) {
    const int64_t ra = lnc_rescale(a, s[LNC_A_ZP], 7, s[LNC_A_MULT], s[LNC_A_SHIFT]);
    const int64_t rb = lnc_rescale(b, s[LNC_B_ZP], 7, s[LNC_B_MULT], s[LNC_B_SHIFT]);
    return lnc_finish(s, mbqm_double((ra - rb) * (ra - rb), s[LNC_MULT], s[LNC_SHIFT]));
}

inline int32_t lnc_mul(const int *s, int32_t a, int32_t b) {
    return lnc_finish(s, mbqm_double((int64_t)(a - s[LNC_A_ZP]) * (b - s[LNC_B_ZP]), s[LNC_MULT], s[LNC_SHIFT]));
}

inline int32_t lnc_mean(const int *s, int64_t total, int32_t n) {
    const int64_t v = mbqm_double(total - (int64_t)s[LNC_MEAN_IN_ZP] * n, s[LNC_MEAN_MULT], s[LNC_MEAN_SHIFT]);
    return (int32_t)clamp64(v + s[LNC_MEAN_ZP], -128, 127);
}

/* The chain on one stored row whose sum is `total`: the squares pass and the output pass. */
template <class P>
void lnc_chain_row(const int8_t row[P::channels], int64_t total, hls::stream<int8_t> &y,
                   const int8_t gamma[P::gamma_size], const int8_t beta[P::beta_size]) {
    const int32_t m = lnc_mean(P::mean, total, P::channels);
    int64_t squares = 0;
variance:
    for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = P::var_ii
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
        if (P::square_form == 0) {
            squares += lnc_squared_difference(P::square, row[i], m);
        } else {
            const int32_t c = lnc_add_sub(P::centered, row[i], m, -1);
            squares += lnc_mul(P::square, c, c);
        }
    }
    const int32_t v = lnc_mean(P::variance, squares, P::channels);
    const int32_t rs = P::rsqrt[v + 128];
normalize:
    for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = P::norm_ii
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
        const int32_t c = lnc_add_sub(P::centered, row[i], m, -1);
        int32_t n;
        if (P::gamma_form) {
            n = lnc_mul(P::normalized, c, lnc_mul(P::scaled, rs, gamma[P::gamma_count == 1 ? 0 : i]));
        } else {
            n = lnc_mul(P::normalized, c, rs);
            if (P::gamma_count) {
                n = lnc_mul(P::scaled, n, gamma[P::gamma_count == 1 ? 0 : i]);
            }
        }
        if (P::beta_count) {
            n = lnc_add_sub(P::shifted, n, beta[P::beta_count == 1 ? 0 : i], 1);
        }
        y.write((int8_t)n);
    }
}

template <class P>
void layer_norm_chain(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const int8_t gamma[P::gamma_size],
                      const int8_t beta[P::beta_size]) {
    int8_t row[P::channels];
    for (int r = 0; r < P::rows; r++) {
        int64_t total = 0;
    load:
        for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = 1
            const int8_t v = x.read();
            row[i] = v;
            total += v;
        }
        lnc_chain_row<P>(row, total, y, gamma, beta);
    }
}

}  // namespace efm

#endif
