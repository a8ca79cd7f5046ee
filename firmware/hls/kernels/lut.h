/* Table lookup of an 8-bit input: y = table[x + 128] (int8) or table[x] (uint8), one element per cycle.
 *
 * The LUT op's own table, and every unary op of an 8-bit input whose result depends on that byte alone (LOGISTIC,
 * TANH, RSQRT, RELU, RELU6, QUANTIZE, DEQUANTIZE): their 256 outputs are computed at generation time by the op's
 * own reference kernel, so the lookup is the reference by construction. Tables hold output bit patterns (float32
 * results of DEQUANTIZE as their IEEE bits). */
#ifndef EFM_HLS_LUT_H
#define EFM_HLS_LUT_H

#include "efm_hls.h"

namespace efm {

template <class P, class TI, class TO, class TT>
void lut(hls::stream<TI> &x, hls::stream<TO> &y, const TT table[256]) {
    for (int i = 0; i < P::n; i++) {
#pragma HLS PIPELINE II = 1
        const int32_t k = (int32_t)x.read() + (std::is_signed<TI>::value ? 128 : 0);
        y.write(from_bits<TO>((uint32_t)table[k]));
    }
}

}  // namespace efm

#endif
