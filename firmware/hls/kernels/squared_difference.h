/* SQUARED_DIFFERENCE (int8, broadcasting): the rescaled difference squared, requantized; binary.h runs the loop. */
#ifndef EFM_HLS_SQUARED_DIFFERENCE_H
#define EFM_HLS_SQUARED_DIFFERENCE_H

#include "binary.h"

namespace efm {

template <class P>
struct squared_difference_fn {
    static int64_t apply(int32_t av, int32_t bv) {
        const int64_t x = mbqm_double((int64_t)(av - P::a_zp) * ((int64_t)1 << P::left_shift), P::a_mult, P::a_shift);
        const int64_t z = mbqm_double((int64_t)(bv - P::b_zp) * ((int64_t)1 << P::left_shift), P::b_mult, P::b_shift);
        return mbqm_double((x - z) * (x - z), P::out_mult, P::out_shift);
    }
};

template <class P>
void squared_difference(hls::stream<int8_t> &a, hls::stream<int8_t> &b, hls::stream<int8_t> &y) {
    binary<P, squared_difference_fn<P>>(a, b, y);
}

}  // namespace efm

#endif
