/* FULLY_CONNECTED: y[r][c] = clamp(requant(sum_k (x[r][k] - zp_x) w[c][k] + bias[c])), single rounding (LiteRT).
 *
 * An int8 matrix-vector unit of P::pe processing elements x P::simd lanes (FINN's MVU): per input row, the row
 * is loaded (one element per cycle), then for each of cols/pe neuron folds, depth/simd cycles each do pe x simd
 * multiply-accumulates into exact ap_int accumulators, and pe requantized outputs leave one per cycle.
 * Reuse factor = (cols x depth) / (pe x simd). Cycles per row: depth + (cols/pe) x (depth/simd + pe).
 */
#ifndef EFM_HLS_FULLY_CONNECTED_H
#define EFM_HLS_FULLY_CONNECTED_H

#include "efm_hls.h"

namespace efm {

template <class P>
void fully_connected(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const int8_t w[P::cols][P::depth],
                     const int32_t bias[P::cols]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::pe dim = 1
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = P::simd dim = 2
    typedef typename acc<P::acc_bits>::type acc_t;
    int16_t xb[P::depth];
#pragma HLS ARRAY_PARTITION variable = xb cyclic factor = P::simd
    acc_t accs[P::pe];
#pragma HLS ARRAY_PARTITION variable = accs complete
rows:
    for (int r = 0; r < P::rows; r++) {
    load:
        for (int k = 0; k < P::depth; k++) {
#pragma HLS PIPELINE II = 1
            xb[k] = (int16_t)((int32_t)x.read() - P::input_zp);
        }
    fold:
        for (int nf = 0; nf < P::cols / P::pe; nf++) {
        mac:
            for (int sf = 0; sf < P::depth / P::simd; sf++) {
#pragma HLS PIPELINE II = 1
                for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                    acc_t a = sf == 0 ? acc_t(0) : accs[p];
                    for (int s = 0; s < P::simd; s++) {
#pragma HLS UNROLL
                        a += (int32_t)xb[sf * P::simd + s] * (int32_t)w[nf * P::pe + p][sf * P::simd + s];
                    }
                    accs[p] = a;
                }
            }
        out:
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
