/* MEAN over any set of axes: requant(sum - zp_x n) with 1/n folded into the multiplier, double rounding (LiteRT).
 * The input is stored once; outputs walk the kept axes (out_stride), each sums the reduced axes (red_stride).
 * Cycles: in_size + out_size x n. */
#ifndef EFM_HLS_MEAN_H
#define EFM_HLS_MEAN_H

#include "efm_hls.h"

namespace efm {

template <class P, class T>
void mean(hls::stream<T> &x, hls::stream<T> &y) {
    T xb[P::in_size];
    read_all<T, P::in_size>(x, xb);
    odometer<P::out_ndim> o;
    do {
        odometer<P::red_ndim> rd;
        int64_t total = 0;
        do {
#pragma HLS PIPELINE II = 1
            total += xb[o.pos + rd.pos];
        } while (rd.next(P::red_count, P::red_stride));
        const int64_t v = mbqm_double(total - (int64_t)P::input_zp * P::n, P::mult, P::shift) + P::output_zp;
        y.write((T)clamp64(v, P::qmin, P::qmax));
    } while (o.next(P::out_count, P::out_stride));
}

}  // namespace efm

#endif
