/* BINARY_FULLY_CONNECTED: packed +-1 weights, accumulation 2 * (sum of selected x - zp) - (sum of all x - zp)
 * (additions only), FULLY_CONNECTED's requantization. The same pe x simd array as fully_connected.h. */
#ifndef EFM_HLS_BINARY_FULLY_CONNECTED_H
#define EFM_HLS_BINARY_FULLY_CONNECTED_H

#include "efm_hls.h"

namespace efm {

template <class P>
void binary_fully_connected(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const uint8_t w[P::cols][P::row_bytes],
                            const int32_t bias[P::cols]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::pe dim = 1
    typedef typename acc<P::acc_bits>::type acc_t;
    int16_t xb[P::depth];
#pragma HLS ARRAY_PARTITION variable = xb cyclic factor = P::simd
    acc_t accs[P::pe];
#pragma HLS ARRAY_PARTITION variable = accs complete
    for (int r = 0; r < P::rows; r++) {
        acc_t total = 0;
        for (int k = 0; k < P::depth; k++) {
#pragma HLS PIPELINE II = 1
            xb[k] = (int16_t)((int32_t)x.read() - P::input_zp);
            total += xb[k];
        }
        for (int nf = 0; nf < P::cols / P::pe; nf++) {
            for (int sf = 0; sf < P::depth / P::simd; sf++) {
#pragma HLS PIPELINE II = 1
                for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                    acc_t a = sf == 0 ? acc_t(0) : accs[p];
                    for (int s = 0; s < P::simd; s++) {
#pragma HLS UNROLL
                        const int k = sf * P::simd + s;
                        if ((w[nf * P::pe + p][k >> 3] >> (k & 7)) & 1) {
                            a += xb[k];
                        }
                    }
                    accs[p] = a;
                }
            }
            for (int p = 0; p < P::pe; p++) {
#pragma HLS PIPELINE II = 1
                const int c = nf * P::pe + p;
                const int64_t sum = 2 * (int64_t)accs[p] - (int64_t)total + bias[c];
                const int64_t v = mbqm_single(sum, P::mult[c], P::shift[c]) + P::output_zp;
                y.write((int8_t)clamp64(v, P::act_min, P::act_max));
            }
        }
    }
}

}  // namespace efm

#endif
