/* STRIDED_SLICE: a strided view of the stored input (strided_view.h). */
#ifndef EFM_HLS_STRIDED_SLICE_H
#define EFM_HLS_STRIDED_SLICE_H

#include "strided_view.h"

namespace efm {

template <class P, class T>
void strided_slice(hls::stream<T> &x, hls::stream<T> &y) {
    strided_view<P, T>(x, y);
}

}  // namespace efm

#endif
