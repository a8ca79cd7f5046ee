/* GATHER along an axis with batch dimensions: rows of `inner` elements selected by indices; an index outside
 * [0, axis_size) gives zeros (the C kernel's behaviour). Params and indices are stored; cycles: params_size +
 * n_indices_total + out_size. */
#ifndef EFM_HLS_GATHER_H
#define EFM_HLS_GATHER_H

#include "efm_hls.h"

namespace efm {

template <class P, class T, class TI>
void gather(hls::stream<T> &params, hls::stream<TI> &indices, hls::stream<T> &y) {
    T pb[P::params_size];
    read_all<T, P::params_size>(params, pb);
    TI ib[P::indices_size];
    read_all<TI, P::indices_size>(indices, ib);
    for (int b = 0; b < P::batch; b++) {
        for (int o = 0; o < P::outer; o++) {
            for (int i = 0; i < P::n_indices; i++) {
                const int64_t k = (int64_t)ib[b * P::n_indices + i];
                const bool ok = k >= 0 && k < P::axis_size;
                const int base = ((b * P::outer + o) * P::axis_size + (ok ? (int)k : 0)) * P::inner;
                for (int e = 0; e < P::inner; e++) {
#pragma HLS PIPELINE II = 1
                    y.write(ok ? pb[base + e] : (T)0);
                }
            }
        }
    }
}

}  // namespace efm

#endif
