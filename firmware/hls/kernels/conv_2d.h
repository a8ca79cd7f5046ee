/* CONV_2D (NHWC, grouped): y = clamp(requant(sum (x - zp_x) w + bias)), double rounding (LiteRT); padding taps
 * contribute nothing.
 *
 * The input is stored once (zero point removed); for each output pixel a pe x simd array runs over
 * (out_c / pe) folds of (k_h k_w k_c / simd) cycles, tap k = (ky, kx, ic) of the flattened filter.
 * Cycles: in_size + batches x out_h x out_w x (out_c/pe) x (taps/simd + pe).
 */
#ifndef EFM_HLS_CONV_2D_H
#define EFM_HLS_CONV_2D_H

#include "efm_hls.h"

namespace efm {

template <class P>
void conv_2d(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const int8_t w[P::out_c][P::taps],
             const int32_t bias[P::out_c]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::pe dim = 1
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::simd dim = 2
    typedef typename acc<P::acc_bits>::type acc_t;
    constexpr int IN = P::batches * P::in_h * P::in_w * P::in_c;
    constexpr int OUT_PER_GROUP = P::out_c / P::groups;
    int16_t xb[IN];
load:
    for (int i = 0; i < IN; i++) {
#pragma HLS PIPELINE II = 1
        xb[i] = (int16_t)((int32_t)x.read() - P::input_zp);
    }
    acc_t accs[P::pe];
#pragma HLS ARRAY_PARTITION variable = accs complete
    for (int n = 0; n < P::batches; n++) {
        for (int oy = 0; oy < P::out_h; oy++) {
            for (int ox = 0; ox < P::out_w; ox++) {
                const int iy0 = oy * P::stride_h - P::pad_top, ix0 = ox * P::stride_w - P::pad_left;
                for (int nf = 0; nf < P::out_c / P::pe; nf++) {
                    for (int sf = 0; sf < P::taps / P::simd; sf++) {
#pragma HLS PIPELINE II = 1
                        for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                            const int oc = nf * P::pe + p;
                            const int c0 = (oc / OUT_PER_GROUP) * P::k_c;
                            acc_t a = sf == 0 ? acc_t(0) : accs[p];
                            for (int s = 0; s < P::simd; s++) {
#pragma HLS UNROLL
                                const int k = sf * P::simd + s;
                                const int ky = k / (P::k_w * P::k_c), kx = (k / P::k_c) % P::k_w, ic = k % P::k_c;
                                const int iy = iy0 + ky * P::dil_h, ix = ix0 + kx * P::dil_w;
                                if (iy >= 0 && iy < P::in_h && ix >= 0 && ix < P::in_w) {
                                    const int xi = ((n * P::in_h + iy) * P::in_w + ix) * P::in_c + c0 + ic;
                                    a += (int32_t)xb[xi] * (int32_t)w[oc][k];
                                }
                            }
                            accs[p] = a;
                        }
                    }
                    for (int p = 0; p < P::pe; p++) {
#pragma HLS PIPELINE II = 1
                        const int oc = nf * P::pe + p;
                        const int64_t v =
                            mbqm_double((int64_t)accs[p] + bias[oc], P::mult[oc], P::shift[oc]) + P::output_zp;
                        y.write((int8_t)clamp64(v, P::act_min, P::act_max));
                    }
                }
            }
        }
    }
}

}  // namespace efm

#endif
