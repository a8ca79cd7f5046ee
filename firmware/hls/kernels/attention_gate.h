/* ATTENTION_GATE: y = clamp(requant((attn - zp_a) * sigmoid_q15(gate))) per head/token row; the Q15 sigmoid of
 * every int8 gate logit is the op's own table. The gate of row g is read when row g starts, so neither input is
 * stored. Cycles: attn size. */
#ifndef EFM_HLS_ATTENTION_GATE_H
#define EFM_HLS_ATTENTION_GATE_H

#include "efm_hls.h"

namespace efm {

template <class P>
void attention_gate(hls::stream<int8_t> &attn, hls::stream<int8_t> &gate, hls::stream<int8_t> &y) {
    for (int g = 0; g < P::gates; g++) {
        const int32_t s = P::table[(int32_t)gate.read() + 128];
        for (int i = 0; i < P::depth; i++) {
#pragma HLS PIPELINE II = 1
            const int64_t acc = (int64_t)((int32_t)attn.read() - P::attn_zp) * s;
            y.write((int8_t)clamp64(mbqm_single(acc, P::mult, P::shift) + P::output_zp, -128, 127));
        }
    }
}

}  // namespace efm

#endif
