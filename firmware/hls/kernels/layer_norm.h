/* LAYER_NORM (integer, edgefmr's definition, docs/ops/LAYER_NORM.md): per row of `channels`,
 * s1 = sum x, s2 = sum x^2, q = C s2 - s1^2 + eps; recip = 2^60 / isqrt(q << 2k) (normalized);
 * n_i = round((C x_i - s1) recip / 2^t); y_i = clamp(requant(gamma_i n_i) + zp_y + beta_i).
 * One pass accumulates s1 and s2 while storing the row; the square root (32 steps) and one 64-bit division per
 * row; then one output per cycle. Cycles per row: 2 x channels + 32 + 64 (divider). */
#ifndef EFM_HLS_LAYER_NORM_H
#define EFM_HLS_LAYER_NORM_H

#include "efm_hls.h"

namespace efm {

inline int32_t bit_length64(uint64_t n) {
    int32_t b = 0;
    for (int i = 0; i < 64; i++) {
#pragma HLS UNROLL
        if ((n >> i) != 0) {
            b = i + 1;
        }
    }
    return b;
}

template <class P>
void layer_norm(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const int8_t gamma[P::channels],
                const int32_t beta[P::channels]) {
    int8_t row[P::channels];
    for (int r = 0; r < P::rows; r++) {
        int64_t s1 = 0, s2 = 0;
    pass:
        for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = 1
            const int8_t v = x.read();
            row[i] = v;
            s1 += v;
            s2 += (int32_t)v * v;
        }
        const int64_t q = (int64_t)P::channels * s2 - s1 * s1 + P::eps;
        int64_t recip = 0;
        int32_t t = 60 - P::norm_frac_bits;
        if (q > 0) {
            const int32_t k = (62 - bit_length64((uint64_t)q)) / 2;
            const uint64_t root = isqrt64((uint64_t)q << (2 * k));
            recip = (int64_t)(((uint64_t)1 << 60) / (root > 0 ? root : 1u));
            t -= k;
        }
    out:
        for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = 1
            const int64_t d = (int64_t)P::channels * row[i] - s1;
            const int64_t n = (d * recip + ((int64_t)1 << (t - 1))) >> t;
            const int64_t v = mbqm_single((int64_t)gamma[i] * n, P::mult[i], P::shift[i]) + P::output_zp + beta[i];
            y.write((int8_t)clamp64(v, -128, 127));
        }
    }
}

}  // namespace efm

#endif
