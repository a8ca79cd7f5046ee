/* QUANTIZE. 8-bit inputs: a table made by the op's own kernel (lut.h). float32 inputs: round(x / scale) half
 * away from zero in float32 (NaN -> 0, saturated) + zp. 16/32-bit inputs: double-rounding requantization. */
#ifndef EFM_HLS_QUANTIZE_H
#define EFM_HLS_QUANTIZE_H

#include "lut.h"

namespace efm {

/* round half away from zero of a float32, saturated to int32, NaN -> 0 (edgefmr's affine_quantize). */
inline int64_t round_f32(float q) {
    if (q != q) {
        return 0;
    }
    const float a = q < 0.0f ? -q : q;
    if (a >= 2147483648.0f) {
        return q < 0.0f ? (int64_t)INT32_MIN : (int64_t)INT32_MAX;
    }
    int64_t r = (int64_t)a;
    if (a - (float)r >= 0.5f) {
        r++;
    }
    r = r > INT32_MAX ? INT32_MAX : r;
    return q < 0.0f ? -r : r;
}

template <class P, class TO>
void quantize_f32(hls::stream<float> &x, hls::stream<TO> &y) {
    for (int i = 0; i < P::n; i++) {
#pragma HLS PIPELINE II = 1
        const float q = x.read() / P::scale;
        y.write((TO)clamp64(round_f32(q) + P::output_zp, P::qmin, P::qmax));
    }
}

template <class P, class TI, class TO>
void quantize_int(hls::stream<TI> &x, hls::stream<TO> &y) {
    for (int i = 0; i < P::n; i++) {
#pragma HLS PIPELINE II = 1
        const int64_t v = mbqm_double((int64_t)x.read() - P::input_zp, P::mult, P::shift) + P::output_zp;
        y.write((TO)clamp64(v, P::qmin, P::qmax));
    }
}

}  // namespace efm

#endif
