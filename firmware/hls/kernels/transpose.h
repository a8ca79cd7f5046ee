/* TRANSPOSE: a strided view of the stored input (strided_view.h). */
#ifndef EFM_HLS_TRANSPOSE_H
#define EFM_HLS_TRANSPOSE_H

#include "strided_view.h"

namespace efm {

template <class P, class T>
void transpose(hls::stream<T> &x, hls::stream<T> &y) {
    strided_view<P, T>(x, y);
}

}  // namespace efm

#endif
