/* MAX_POOL_2D: the window maximum, clamped to the fused activation range. */
#ifndef EFM_HLS_MAX_POOL_2D_H
#define EFM_HLS_MAX_POOL_2D_H

#include "pool_2d.h"

namespace efm {

template <class P, class T>
void max_pool_2d(hls::stream<T> &x, hls::stream<T> &y) {
    pool_2d<P, T, false>(x, y);
}

}  // namespace efm

#endif
