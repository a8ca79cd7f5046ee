/* BATCH_MATMUL: per batch, y = clamp(requant((lhs - zp_l) . (rhs - zp_r))), double rounding (LiteRT), numpy
 * batch broadcasting.
 *
 * Both operands arrive as streams in their own row-major order and are stored once, zero point removed, as
 * L[batch][row][depth] and R[batch][col][depth] (adj_x / adj_y decide where each element goes), so that the
 * pe x simd array reads pe columns and simd depth values per cycle. Cycles: lhs_size + rhs_size (loading) +
 * batches x rows x (cols/pe) x (depth/simd + pe).
 */
#ifndef EFM_HLS_BATCH_MATMUL_H
#define EFM_HLS_BATCH_MATMUL_H

#include "efm_hls.h"

namespace efm {

template <class P>
void batch_matmul(hls::stream<int8_t> &lhs, hls::stream<int8_t> &rhs, hls::stream<int8_t> &y) {
    typedef typename acc<P::acc_bits>::type acc_t;
    constexpr int LB = P::lhs_batches, RB = P::rhs_batches;
    int16_t L[LB][P::rows][P::depth];
#pragma HLS ARRAY_PARTITION variable = L cyclic factor = P::simd dim = 3
    int16_t R[RB][P::cols][P::depth];
#pragma HLS ARRAY_PARTITION variable = R cyclic factor = P::pe dim = 2
#pragma HLS ARRAY_PARTITION variable = R cyclic factor = P::simd dim = 3
load_lhs:
    for (int b = 0; b < LB; b++) {
        for (int i = 0; i < P::rows * P::depth; i++) {
#pragma HLS PIPELINE II = 1
            const int a1 = i / (P::adj_x ? P::rows : P::depth), a2 = i % (P::adj_x ? P::rows : P::depth);
            const int16_t v = (int16_t)((int32_t)lhs.read() - P::lhs_zp);
            if (P::adj_x) {
                L[b][a2][a1] = v;
            } else {
                L[b][a1][a2] = v;
            }
        }
    }
load_rhs:
    for (int b = 0; b < RB; b++) {
        for (int i = 0; i < P::depth * P::cols; i++) {
#pragma HLS PIPELINE II = 1
            const int a1 = i / (P::adj_y ? P::depth : P::cols), a2 = i % (P::adj_y ? P::depth : P::cols);
            const int16_t v = (int16_t)((int32_t)rhs.read() - P::rhs_zp);
            if (P::adj_y) {
                R[b][a1][a2] = v;
            } else {
                R[b][a2][a1] = v;
            }
        }
    }
    acc_t accs[P::pe];
#pragma HLS ARRAY_PARTITION variable = accs complete
batches:
    for (int b0 = 0; b0 < P::batch_count[0]; b0++) {
        for (int b1 = 0; b1 < P::batch_count[1]; b1++) {
            for (int b2 = 0; b2 < P::batch_count[2]; b2++) {
                const int lb = (b0 * P::lhs_batch_stride[0] + b1 * P::lhs_batch_stride[1] +
                                b2 * P::lhs_batch_stride[2]) / (P::rows * P::depth);
                const int rb = (b0 * P::rhs_batch_stride[0] + b1 * P::rhs_batch_stride[1] +
                                b2 * P::rhs_batch_stride[2]) / (P::depth * P::cols);
                for (int r = 0; r < P::rows; r++) {
                    for (int nf = 0; nf < P::cols / P::pe; nf++) {
                        for (int sf = 0; sf < P::depth / P::simd; sf++) {
#pragma HLS PIPELINE II = 1
                            for (int p = 0; p < P::pe; p++) {
#pragma HLS UNROLL
                                acc_t a = sf == 0 ? acc_t(0) : accs[p];
                                for (int s = 0; s < P::simd; s++) {
#pragma HLS UNROLL
                                    const int k = sf * P::simd + s;
                                    a += (int32_t)L[lb][r][k] * (int32_t)R[rb][nf * P::pe + p][k];
                                }
                                accs[p] = a;
                            }
                        }
                        for (int p = 0; p < P::pe; p++) {
#pragma HLS PIPELINE II = 1
                            const int64_t v = mbqm_double((int64_t)accs[p], P::mult, P::shift) + P::output_zp;
                            y.write((int8_t)clamp64(v, -128, 127));
                        }
                    }
                }
            }
        }
    }
}

}  // namespace efm

#endif
