/* ADD_LAYER_NORM_CHAIN (docs/ops/ADD_LAYER_NORM_CHAIN.md): s = ADD(a, b) (written to its own stream) and the
 * LayerNorm chain of s (layer_norm_chain.h); the residual ADD's three requantizations share the layer's unit
 * (II = 3). Cycles per row: channels x (3 + var_ii + norm_ii) (+ the pipeline depths). */
#ifndef EFM_HLS_ADD_LAYER_NORM_CHAIN_H
#define EFM_HLS_ADD_LAYER_NORM_CHAIN_H

#include "layer_norm_chain.h"

namespace efm {

template <class P>
void add_layer_norm_chain(hls::stream<int8_t> &a, hls::stream<int8_t> &b, hls::stream<int8_t> &s,
                          hls::stream<int8_t> &y, const int8_t gamma[P::gamma_size],
                          const int8_t beta[P::beta_size]) {
    int8_t row[P::channels];
    for (int r = 0; r < P::rows; r++) {
        int64_t total = 0;
    load:
        for (int i = 0; i < P::channels; i++) {
#pragma HLS PIPELINE II = 3
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
            const int8_t v = (int8_t)lnc_add_sub(P::residual, a.read(), b.read(), 1);
            row[i] = v;
            s.write(v);
            total += v;
        }
        lnc_chain_row<P>(row, total, y, gamma, beta);
    }
}

}  // namespace efm

#endif
