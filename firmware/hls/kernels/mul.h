/* MUL (int8, broadcasting): (a - zp_a)(b - zp_b) requantized with s_a s_b / s_y (double rounding); binary.h runs the loop. */
#ifndef EFM_HLS_MUL_H
#define EFM_HLS_MUL_H

#include "binary.h"

namespace efm {

template <class P>
struct mul_fn {
    static int64_t apply(int32_t av, int32_t bv) {
        return mbqm_double((int64_t)(av - P::a_zp) * (int64_t)(bv - P::b_zp), P::out_mult, P::out_shift);
    }
};

template <class P>
void mul(hls::stream<int8_t> &a, hls::stream<int8_t> &b, hls::stream<int8_t> &y) {
    binary<P, mul_fn<P>>(a, b, y);
}

}  // namespace efm

#endif
