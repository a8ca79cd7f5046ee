/* Shared loop of AVERAGE_POOL_2D and MAX_POOL_2D (NHWC): the input is stored once, each output reads its window
 * (clipped to the image). Cycles: in_size + out_size x filter_h x filter_w. */
#ifndef EFM_HLS_POOL_2D_H
#define EFM_HLS_POOL_2D_H

#include <limits>

#include "efm_hls.h"

namespace efm {

template <class P, class T, bool AVG>
void pool_2d(hls::stream<T> &x, hls::stream<T> &y) {
    constexpr int IN = P::batches * P::in_h * P::in_w * P::channels;
    T xb[IN];
    read_all<T, IN>(x, xb);
    for (int n = 0; n < P::batches; n++) {
        for (int oy = 0; oy < P::out_h; oy++) {
            const int iy0 = oy * P::stride_h - P::pad_top;
            const int ky0 = iy0 < 0 ? -iy0 : 0;
            const int ky1 = P::in_h - iy0 < P::filter_h ? P::in_h - iy0 : P::filter_h;
            for (int ox = 0; ox < P::out_w; ox++) {
                const int ix0 = ox * P::stride_w - P::pad_left;
                const int kx0 = ix0 < 0 ? -ix0 : 0;
                const int kx1 = P::in_w - ix0 < P::filter_w ? P::in_w - ix0 : P::filter_w;
                for (int c = 0; c < P::channels; c++) {
                    int32_t acc = AVG ? 0 : (int32_t)std::numeric_limits<T>::min();
                    for (int ky = ky0; ky < ky1; ky++) {
                        for (int kx = kx0; kx < kx1; kx++) {
#pragma HLS PIPELINE II = 1
                            const int32_t v = xb[((n * P::in_h + iy0 + ky) * P::in_w + ix0 + kx) * P::channels + c];
                            if (AVG) {
                                acc += v;
                            } else {
                                acc = v > acc ? v : acc;
                            }
                        }
                    }
                    if (AVG) {
                        const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                        const int32_t half = count / 2;
                        acc = acc > 0 ? (acc + half) / count : -((-acc + half) / count);
                    }
                    acc = acc < P::act_min ? P::act_min : (acc > P::act_max ? P::act_max : acc);
                    y.write((T)acc);
                }
            }
        }
    }
}

}  // namespace efm

#endif
