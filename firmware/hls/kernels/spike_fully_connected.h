/* SPIKE_FULLY_CONNECTED: 0/1 spikes select weights (additions only), then FULLY_CONNECTED's requantization.
 * The same pe x simd array as fully_connected.h with the multiplier replaced by a select. */
#ifndef EFM_HLS_SPIKE_FULLY_CONNECTED_H
#define EFM_HLS_SPIKE_FULLY_CONNECTED_H

#include "efm_hls.h"

namespace efm {

template <class P, class TS>
void spike_fully_connected(hls::stream<TS> &s_in, hls::stream<int8_t> &y, const int8_t w[P::cols][P::depth],
                           const int32_t bias[P::cols]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::pe dim = 1
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::simd dim = 2
    typedef typename acc<P::acc_bits>::type acc_t;
    TS sb[P::depth];
#pragma HLS ARRAY_PARTITION variable = sb cyclic factor = P::simd
    acc_t accs[P::pe];
#pragma HLS ARRAY_PARTITION variable = accs complete
    for (int r = 0; r < P::rows; r++) {
        for (int k = 0; k < P::depth; k++) {
#pragma HLS PIPELINE II = 1
            sb[k] = s_in.read();
        }
        for (int nf = 0; nf < P::cols / P::pe; nf++) {
            for (int sf = 0; sf < P::depth / P::simd; sf++) {
#pragma HLS PIPELINE II = 1
                for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                    acc_t a = sf == 0 ? acc_t(0) : accs[p];
                    for (int s = 0; s < P::simd; s++) {
#pragma HLS UNROLL
                        if (sb[sf * P::simd + s]) {
                            a += (int32_t)w[nf * P::pe + p][sf * P::simd + s];
                        }
                    }
                    accs[p] = a;
                }
            }
            for (int p = 0; p < P::pe; p++) {
#pragma HLS PIPELINE II = 1
                const int c = nf * P::pe + p;
                const int64_t v = mbqm_single((int64_t)accs[p] + bias[c], P::mult[c], P::shift[c]) + P::output_zp;
                y.write((int8_t)clamp64(v, P::act_min, P::act_max));
            }
        }
    }
}

}  // namespace efm

#endif
