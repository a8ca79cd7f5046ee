/* HASH_ENCODE (docs/ops/HASH_ENCODE.md): EcoFormer's Q/K hash, one token and head at a time. The anchor and
 * projection products are sign-selected additions (the +-1 constants select add or subtract: no multipliers),
 * the RBF feature one table lookup per anchor, the norm one exact integer square root (bit-by-bit, 16 steps) and
 * one reciprocal per token and head. Tokens arrive [*B][N][H d]; codes leave [*B][H][N][code_bytes], so a batch's
 * codes are buffered. Cycles per token and head: d (norm) + m d (anchors) + m (lookups) + b m (projection). */
#ifndef EFM_HLS_HASH_ENCODE_H
#define EFM_HLS_HASH_ENCODE_H

#include "efm_hls.h"

namespace efm {

template <class P>
void hash_encode(hls::stream<int8_t> &x, hls::stream<uint8_t> &y, const int8_t anchors[P::heads][P::anchors][P::depth],
                 const int16_t table[P::heads][2 * P::radius + 1], const int8_t proj[P::heads][P::bits][P::anchors],
                 const int32_t offset[P::heads][P::bits]) {
    uint8_t codes[P::heads][P::tokens][P::code_bytes];
    int16_t xs[P::depth];
    int32_t phi[P::anchors];
    for (int b = 0; b < P::batch; b++) {
        for (int t = 0; t < P::tokens; t++) {
            for (int h = 0; h < P::heads; h++) {
                uint32_t q = 0;
                for (int i = 0; i < P::depth; i++) {
#pragma HLS PIPELINE II = 1
                    xs[i] = (int16_t)((int32_t)x.read() - P::x_zp);
                    q += (uint32_t)((int32_t)xs[i] * xs[i]);
                }
                int32_t k = 0;
                int64_t c = 0;
                if (q > 0) {
                    const uint32_t dq = (uint32_t)P::depth * q;
                    int32_t len = 0;
                    for (int s = 0; s < 32; s++) {
#pragma HLS UNROLL
                        if ((dq >> s) != 0) {
                            len = s + 1;
                        }
                    }
                    k = (32 - len) >> 1;
                    c = (int64_t)P::radius * (int64_t)(0x80000000u / isqrt32(dq << (2 * k)));
                }
                for (int j = 0; j < P::anchors; j++) {
                    int32_t s = 0;
                    for (int i = 0; i < P::depth; i++) {
#pragma HLS PIPELINE II = 1
                        s += anchors[h][j][i] > 0 ? (int32_t)xs[i] : -(int32_t)xs[i];
                    }
                    const int64_t idx = q > 0 ? ((int64_t)s * ((int64_t)1 << k) * c + ((int64_t)1 << 30)) >> 31 : 0;
                    phi[j] = table[h][clamp64(idx, -P::radius, P::radius) + P::radius];
                }
                for (int i = 0; i < P::code_bytes; i++) {
#pragma HLS UNROLL
                    codes[h][t][i] = 0;
                }
                for (int kk = 0; kk < P::bits; kk++) {
                    int32_t pre = -offset[h][kk];
                    for (int j = 0; j < P::anchors; j++) {
#pragma HLS PIPELINE II = 1
                        pre += proj[h][kk][j] > 0 ? phi[j] : -phi[j];
                    }
                    if (pre >= 0) {
                        codes[h][t][kk >> 3] |= (uint8_t)(1u << (kk & 7));
                    }
                }
            }
        }
        for (int h = 0; h < P::heads; h++) {
            for (int t = 0; t < P::tokens; t++) {
                for (int i = 0; i < P::code_bytes; i++) {
#pragma HLS PIPELINE II = 1
                    y.write(codes[h][t][i]);
                }
            }
        }
    }
}

}  // namespace efm

#endif
