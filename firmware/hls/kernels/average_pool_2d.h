/* AVERAGE_POOL_2D: the window sum divided by the number of valid taps, rounded half away from zero (TFLite). */
#ifndef EFM_HLS_AVERAGE_POOL_2D_H
#define EFM_HLS_AVERAGE_POOL_2D_H

#include "pool_2d.h"

namespace efm {

template <class P, class T>
void average_pool_2d(hls::stream<T> &x, hls::stream<T> &y) {
    pool_2d<P, T, true>(x, y);
}

}  // namespace efm

#endif
