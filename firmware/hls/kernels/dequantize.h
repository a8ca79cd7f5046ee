/* DEQUANTIZE to float32. 8-bit per-tensor: a table of float bit patterns made by the op's own kernel (lut.h).
 * Per-channel: (x - zp[c]) * scale[c] in float32. int16: float(scale * (x - zp)) in double. */
#ifndef EFM_HLS_DEQUANTIZE_H
#define EFM_HLS_DEQUANTIZE_H

#include "lut.h"

namespace efm {

template <class P, class TI>
void dequantize_pc(hls::stream<TI> &x, hls::stream<float> &y, const int32_t zp[P::channels],
                   const float scale[P::channels]) {
    for (int o = 0; o < P::outer; o++) {
        for (int c = 0; c < P::channels; c++) {
            for (int i = 0; i < P::inner; i++) {
#pragma HLS PIPELINE II = 1
                y.write((float)((int32_t)x.read() - zp[c]) * scale[c]);
            }
        }
    }
}

template <class P>
void dequantize_s16(hls::stream<int16_t> &x, hls::stream<float> &y) {
    for (int i = 0; i < P::n; i++) {
#pragma HLS PIPELINE II = 1
        y.write((float)(P::scale * (double)((int32_t)x.read() - P::zero_point)));
    }
}

}  // namespace efm

#endif
