/* RSQRT of an int8 input: the op's own 256-entry table (edgefmr.ops.rsqrt), looked up by lut.h. */
#ifndef EFM_HLS_RSQRT_H
#define EFM_HLS_RSQRT_H

#include "lut.h"

namespace efm {

template <class P>
void rsqrt(hls::stream<int8_t> &x, hls::stream<int8_t> &y, const uint8_t table[256]) {
    lut<P, int8_t, int8_t, uint8_t>(x, y, table);
}

}  // namespace efm

#endif
