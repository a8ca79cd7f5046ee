/* A strided view of a stored tensor (TRANSPOSE, STRIDED_SLICE): output element i reads the input at
 * start + sum(index[d] * stride[d]) (last axis fastest), the view found at generation time by running the op's
 * own reference kernel on element indices. Cycles: in_size + out_size. */
#ifndef EFM_HLS_STRIDED_VIEW_H
#define EFM_HLS_STRIDED_VIEW_H

#include "efm_hls.h"

namespace efm {

template <class P, class T>
void strided_view(hls::stream<T> &x, hls::stream<T> &y) {
    T xb[P::in_size];
    read_all<T, P::in_size>(x, xb);
    if (P::out_size == 0) {
        return;
    }
    odometer<P::ndim> o;
    o.pos = P::start;
    do {
#pragma HLS PIPELINE II = 1
        y.write(xb[o.pos]);
    } while (o.next(P::count, P::stride));
}

}  // namespace efm

#endif
