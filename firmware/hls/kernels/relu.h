/* RELU and RELU6. 8-bit tensors: a 256-entry table made by the op's own kernel (lut.h). int16 tensors:
 * y = clamp(requant(x - zp_x) + zp_y, lo, hi) with double rounding (edgefmr.ops.relu), one element per cycle. */
#ifndef EFM_HLS_RELU_H
#define EFM_HLS_RELU_H

#include "lut.h"

namespace efm {

template <class P, class T>
void relu_table(hls::stream<T> &x, hls::stream<T> &y, const uint8_t table[256]) {
    lut<P, T, T, uint8_t>(x, y, table);
}

template <class P>
void relu_s16(hls::stream<int16_t> &x, hls::stream<int16_t> &y) {
    for (int i = 0; i < P::n; i++) {
#pragma HLS PIPELINE II = 1
        int64_t v = mbqm_double((int64_t)x.read() - P::input_zp, P::mult, P::shift) + P::output_zp;
        v = v < P::hi ? v : P::hi;
        v = v > P::lo ? v : P::lo;
        y.write((int16_t)v);
    }
}

}  // namespace efm

#endif
