/* CONCATENATION: for each of `outer` blocks, chunk_i elements of input i in turn. Each input is consumed in its
 * own row-major order, so nothing is stored; a uint8 input quantized differently from the output goes through a
 * 256-entry table made by the op's own kernel. The generated layer calls concat_chunk once per input inside its
 * loop over the outer blocks. Cycles: out_size. */
#ifndef EFM_HLS_CONCATENATION_H
#define EFM_HLS_CONCATENATION_H

#include "efm_hls.h"

/* The table argument of inputs that need none (never read). */
static const uint8_t efm_no_table[256] = {0};

namespace efm {

template <class T, int N, bool TABLE>
void concat_chunk(hls::stream<T> &in, hls::stream<T> &y, const uint8_t table[256]) {
    for (int k = 0; k < N; k++) {
#pragma HLS PIPELINE II = 1
        const T v = in.read();
        y.write(TABLE ? (T)table[(uint8_t)v] : v);
    }
}

}  // namespace efm

#endif
