/* LMU_UPDATE (docs/ops/LMU_UPDATE.md): per channel, m <- clamp(round(A m / 2^Fa) + B (u - zp_u)) with int64
 * accumulation, y = clamp(requant(m) + zp_y) per step. Inputs arrive step by step ([steps, channels]); each
 * channel's state (initial values from the optional m0 input, else 0) is kept; the order x order product runs
 * pe rows at a time. Channels are independent, so this step-major order gives the reference's results.
 * Cycles: steps x channels x (order/pe) x order + 2 x channels x order. */
#ifndef EFM_HLS_LMU_UPDATE_H
#define EFM_HLS_LMU_UPDATE_H

#include "efm_hls.h"

namespace efm {

template <class P>
void lmu_update(hls::stream<int8_t> &u, hls::stream<int32_t> &m0, hls::stream<int8_t> &y,
                hls::stream<int32_t> &m_out, const int32_t a[P::order][P::order], const int32_t b[P::order]) {
#pragma HLS ARRAY_PARTITION variable = a cyclic factor = P::pe dim = 1
    constexpr int D = P::order;
    int32_t m[P::channels][D];
    int32_t nm[D];
init:
    for (int i = 0; i < P::channels * D; i++) {
#pragma HLS PIPELINE II = 1
        m[i / D][i % D] = P::has_m0 ? m0.read() : 0;
    }
    const int64_t rnd = (int64_t)1 << (P::a_frac_bits - 1);
steps:
    for (int t = 0; t < P::steps; t++) {
        for (int ch = 0; ch < P::channels; ch++) {
            const int64_t uc = (int64_t)u.read() - P::input_zp;
            for (int i0 = 0; i0 < D; i0 += P::pe) {
                int64_t accs[P::pe];
                for (int j = 0; j < D; j++) {
#pragma HLS PIPELINE II = 1
                    for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                        accs[p] = (j == 0 ? 0 : accs[p]) + (int64_t)a[i0 + p][j] * m[ch][j];
                    }
                }
                for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                    nm[i0 + p] = (int32_t)clamp64(((accs[p] + rnd) >> P::a_frac_bits) + (int64_t)b[i0 + p] * uc,
                                                  INT32_MIN, INT32_MAX);
                }
            }
            for (int i = 0; i < D; i++) {
#pragma HLS PIPELINE II = 1
                m[ch][i] = nm[i];
                y.write((int8_t)clamp64(mbqm_single(m[ch][i], P::mult, P::shift) + P::output_zp, -128, 127));
            }
        }
    }
out:
    for (int i = 0; i < P::channels * D; i++) {
#pragma HLS PIPELINE II = 1
        m_out.write(m[i / D][i % D]);
    }
}

}  // namespace efm

#endif
