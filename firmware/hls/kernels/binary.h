/* Shared loop of the int8 binary elementwise ops (ADD, SUB, MUL, SQUARED_DIFFERENCE) with numpy broadcasting.
 *
 * Output elements are produced in row-major order, one per cycle. An operand with the output's shape is consumed
 * straight from its stream; a broadcast operand (fewer elements) is stored first and read through per-axis
 * strides (0 on broadcast axes). F is the op: fn(p, a, b) -> the requantized int32 accumulator.
 * One requantization unit per layer, shared by the op's P::requants requantizations of an element (ADD/SUB 3,
 * SQUARED_DIFFERENCE 4, MUL 1): the loop runs at II = P::requants.
 * Cycles: (broadcast operand sizes) + requants x out_size. */
#ifndef EFM_HLS_BINARY_H
#define EFM_HLS_BINARY_H

#include "efm_hls.h"

namespace efm {

template <class P, class F>
void binary(hls::stream<int8_t> &a, hls::stream<int8_t> &b, hls::stream<int8_t> &y) {
    int8_t abuf[P::a_buffered ? P::a_size : 1];
    int8_t bbuf[P::b_buffered ? P::b_size : 1];
    if (P::a_buffered) {
        for (int i = 0; i < P::a_size; i++) {
#pragma HLS PIPELINE II = 1
            abuf[i] = a.read();
        }
    }
    if (P::b_buffered) {
        for (int i = 0; i < P::b_size; i++) {
#pragma HLS PIPELINE II = 1
            bbuf[i] = b.read();
        }
    }
    int32_t idx[P::ndim];
    for (int d = 0; d < P::ndim; d++) {
        idx[d] = 0;
    }
    int32_t ia = 0, ib = 0;
elements:
    for (int i = 0; i < P::out_size; i++) {
#pragma HLS PIPELINE II = P::requants
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
        const int32_t av = P::a_buffered ? abuf[ia] : a.read();
        const int32_t bv = P::b_buffered ? bbuf[ib] : b.read();
        const int64_t acc = wrap32(F::apply(av, bv));
        y.write((int8_t)clamp64(wrap32(acc + P::output_zp), P::act_min, P::act_max));
        for (int d = P::ndim - 1; d >= 0; d--) {
            idx[d]++;
            ia += P::stride_a[d];
            ib += P::stride_b[d];
            if (idx[d] < P::count[d]) {
                break;
            }
            ia -= P::stride_a[d] * P::count[d];
            ib -= P::stride_b[d] * P::count[d];
            idx[d] = 0;
        }
    }
}

}  // namespace efm

#endif
