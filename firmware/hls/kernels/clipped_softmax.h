/* CLIPPED_SOFTMAX: SOFTMAX (softmax.h, the same online form) followed by the op's integer affine-and-clip, a
 * function of the int8 softmax result alone, tabulated at generation time (P::post_table). */
#ifndef EFM_HLS_CLIPPED_SOFTMAX_H
#define EFM_HLS_CLIPPED_SOFTMAX_H

#include "softmax.h"

namespace efm {

template <class P>
void clipped_softmax(hls::stream<int8_t> &x, hls::stream<int8_t> &y) {
    static_assert(P::has_post, "CLIPPED_SOFTMAX needs its post table");
    softmax<P>(x, y);
}

}  // namespace efm

#endif
