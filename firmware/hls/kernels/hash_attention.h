/* HASH_ATTENTION (EcoFormer, docs/ops/HASH_ATTENTION.md) in XNOR/popcount form. The op is defined in linear form,
 *     num_c = sum_k (q_k ? P[k][c] : V[c] - P[k][c]),  den = sum_k (q_k ? ones_k : n_keys - ones_k),
 * with P[k][c] = sum over keys j with bit k set of (v_jc - zp_v). Regrouping the same integer sums by key gives
 *     num_c = sum_j sim_j (v_jc - zp_v),  den = sum_j sim_j,  sim_j = popcount(XNOR(q, k_j)),
 * the quadratic form a hardware array evaluates with XNOR gates and popcounts (no multiplications by Q.K);
 * both are exact integer identities, so the results are the reference's. Then the normalized reciprocal of den
 * and the requantization, as the op. Per batch: keys (as packed bits) and values are stored, queries stream.
 * Cycles per batch: n_keys x (code_bytes + depth) + n_queries x n_keys x (1 + depth) + n_queries x depth. */
#ifndef EFM_HLS_HASH_ATTENTION_H
#define EFM_HLS_HASH_ATTENTION_H

#include "efm_hls.h"

namespace efm {

inline int32_t bit_length32(uint32_t n) {
    int32_t b = 0;
    for (int i = 0; i < 32; i++) {
#pragma HLS UNROLL
        if ((n >> i) != 0) {
            b = i + 1;
        }
    }
    return b;
}

/* One code row (code_bytes stream elements) as packed bits: bit k of byte k / 8. */
template <class P, class TC>
void read_code(hls::stream<TC> &s, uint8_t bits[P::bit_bytes], int32_t zp) {
    for (int i = 0; i < P::bit_bytes; i++) {
#pragma HLS UNROLL
        bits[i] = 0;
    }
    for (int i = 0; i < P::code_bytes; i++) {
#pragma HLS PIPELINE II = 1
        const TC v = s.read();
        if (P::packed) {
            bits[i] = (uint8_t)v;
        } else if ((int32_t)v >= zp) {
            bits[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
    }
}

template <class P, class TC>
void hash_attention(hls::stream<TC> &hq, hls::stream<TC> &hk, hls::stream<int8_t> &v, hls::stream<int8_t> &y) {
    uint8_t kb[P::n_keys][P::bit_bytes];
    int16_t vb[P::n_keys][P::depth];
    uint8_t qb[P::bit_bytes];
    int32_t sim[P::n_keys];
    for (int b = 0; b < P::batch; b++) {
    keys:
        for (int j = 0; j < P::n_keys; j++) {
            read_code<P, TC>(hk, kb[j], P::k_zp);
        }
    values:
        for (int j = 0; j < P::n_keys; j++) {
            for (int c = 0; c < P::depth; c++) {
#pragma HLS PIPELINE II = 1
                vb[j][c] = (int16_t)((int32_t)v.read() - P::v_zp);
            }
        }
    queries:
        for (int i = 0; i < P::n_queries; i++) {
            read_code<P, TC>(hq, qb, P::q_zp);
            int64_t den = 0;
        similarity:
            for (int j = 0; j < P::n_keys; j++) {
#pragma HLS PIPELINE II = 1
                int32_t s = 0;
                for (int w = 0; w < P::bit_bytes; w++) {
#pragma HLS UNROLL
                    const int32_t left = P::bits - 8 * w;
                    const uint32_t mask = left >= 8 ? 0xFFu : (left > 0 ? (1u << left) - 1u : 0u);
                    s += popcount8((uint8_t)(~(qb[w] ^ kb[j][w]) & mask));
                }
                sim[j] = s;
                den += s;
            }
            const int32_t len = bit_length32((uint32_t)den);
            const int64_t recip = den > 0 ? (int64_t)(((uint64_t)1 << (29 + len)) / (uint64_t)den) : 0;
        outputs:
            for (int c = 0; c < P::depth; c++) {
                int64_t num = 0;
                for (int j = 0; j < P::n_keys; j++) {
#pragma HLS PIPELINE II = 1
                    num += (int64_t)sim[j] * vb[j][c];
                }
                const int64_t w = (num * recip + ((int64_t)1 << (13 + len))) >> (14 + len);
                y.write((int8_t)clamp64(mbqm_single(w, P::mult, P::shift) + P::output_zp, -128, 127));
            }
        }
    }
}

}  // namespace efm

#endif
