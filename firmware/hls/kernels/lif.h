/* LIF (multi-step leaky integrate-and-fire, docs/ops/LIF.md): per neuron, h = round(v leak / 2^15) + requant(x),
 * saturated to int32; spike = h >= theta; v = spike ? 0 : h. Inputs arrive time step by time step ([steps,
 * neurons]); the membranes of all neurons are kept (initial values from the optional v0 input, else 0), spikes
 * leave as they are computed and the final membranes after the last step. Neurons are independent, so this
 * step-major order gives the reference's results. Cycles: steps x neurons + 2 x neurons. */
#ifndef EFM_HLS_LIF_H
#define EFM_HLS_LIF_H

#include "efm_hls.h"

namespace efm {

template <class P, class TX, class TS>
void lif(hls::stream<TX> &x, hls::stream<int32_t> &v0, hls::stream<TS> &spikes,
         hls::stream<int32_t> &v_out) {
    int32_t v[P::neurons];
init:
    for (int n = 0; n < P::neurons; n++) {
#pragma HLS PIPELINE II = 1
        v[n] = P::has_v0 ? v0.read() : 0;
    }
steps:
    for (int t = 0; t < P::steps; t++) {
        for (int n = 0; n < P::neurons; n++) {
#pragma HLS PIPELINE II = 1
            const int64_t i = mbqm_single((int64_t)x.read() - P::input_zp, P::mult, P::shift);
            const int64_t h = clamp64((((int64_t)v[n] * P::leak + ((int64_t)1 << (P::leak_frac_bits - 1))) >>
                                       P::leak_frac_bits) + i, INT32_MIN, INT32_MAX);
            const bool fired = h >= P::theta;
            spikes.write((TS)(fired ? 1 : 0));
            v[n] = fired ? 0 : (int32_t)h;
        }
    }
out:
    for (int n = 0; n < P::neurons; n++) {
#pragma HLS PIPELINE II = 1
        v_out.write(v[n]);
    }
}

}  // namespace efm

#endif
