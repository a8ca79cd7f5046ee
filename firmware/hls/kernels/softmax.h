/* SOFTMAX over the last axis, int8 -> int8 (scale 1/256, zero point -128), TFLite's gemmlowp arithmetic, in the
 * single-pass online form.
 *
 * TFLite: m = max_i x_i; S = wrap32(sum_i f(x_i - m)) with f(d) = RoundingDivideByPOT(exp_q31(d), 12);
 * y_i = clamp(RDBPOT(SRDHM(1/S, exp_q31(x_i - m)), e) - 128).
 *
 * Online form, exact: one pass over the row keeps the running maximum and, per int8 value v, how many times it
 * occurred (cnt[v]). Since integer addition is associative and commutative,
 *     sum_i f(x_i - m) = sum_v cnt[v] f(v - m)   (the same integers, regrouped),
 * and f(d) is zero for d <= -window (computed at generation time from the same table), so the normalizer is a
 * loop over that window after the pass, P::lanes terms per cycle. The floating-point online softmax rescales a running sum by exp(m - m')
 * when the maximum grows; in fixed point each term is rounded on its own, so that rescaling would not reproduce
 * TFLite's sum: the per-value counts carry exactly the information the rescaling needs. Counts are valid for
 * the row whose tag they carry, so nothing is cleared between rows. The row is kept for the output pass.
 * Cycles per row: depth (pass) + window / lanes (normalizer) + depth (outputs); lanes = ceil(window / depth)
 * (at most 16), so the normalizer takes about as long as a pass.
 * CLIPPED_SOFTMAX is this kernel with P::post_table (its affine-and-clip of each int8 result).
 */
#ifndef EFM_HLS_SOFTMAX_H
#define EFM_HLS_SOFTMAX_H

#include "efm_hls.h"

namespace efm {

/* gemmlowp SaturatingRoundingMultiplyByPOT, positive exponent. */
inline int64_t sat_mul_pot(int64_t x, int32_t exponent) {
    const int64_t threshold = ((int64_t)1 << (31 - exponent)) - 1;
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return x * ((int64_t)1 << exponent);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: gemmlowp's Newton-Raphson, three iterations. */
inline int64_t one_over_one_plus_x(int64_t a) {
    const int64_t s = a + INT32_MAX;
    const int64_t half_denominator = (s + (s >= 0 ? 1 : -1)) / 2;
    int64_t x = 1515870810 + srdhm(half_denominator, -1010580540);
    for (int i = 0; i < 3; i++) {
#pragma HLS UNROLL
        const int64_t one_minus = ((int64_t)1 << 29) - srdhm(half_denominator, x);
        x = x + sat_mul_pot(srdhm(x, one_minus), 2);
    }
    return sat_mul_pot(x, 1);
}

inline int32_t clz32(uint32_t x) {
    int32_t n = 0;
    for (int b = 31; b >= 0; b--) {
#pragma HLS UNROLL
        if ((x >> b) & 1u) {
            break;
        }
        n++;
    }
    return n;
}

template <class P>
void softmax(hls::stream<int8_t> &x, hls::stream<int8_t> &y) {
    int8_t row[P::depth];
    uint32_t cnt[256];
    uint32_t tag[256];
#pragma HLS DEPENDENCE variable = cnt inter false
#pragma HLS ARRAY_PARTITION variable = cnt cyclic factor = P::lanes
#pragma HLS ARRAY_PARTITION variable = tag cyclic factor = P::lanes
init:
    for (int v = 0; v < 256; v++) {
#pragma HLS PIPELINE II = 1
        tag[v] = 0;
    }
rows:
    for (uint32_t r = 1; r <= (uint32_t)P::rows; r++) {
        int32_t m = -128;
        int32_t prev = -1;
        uint32_t prev_cnt = 0;
    pass:
        for (int i = 0; i < P::depth; i++) {
#pragma HLS PIPELINE II = 1
            const int8_t v = x.read();
            row[i] = v;
            m = v > m ? v : m;
            const int32_t k = (int32_t)v + 128;
            /* the previous update is forwarded, so the count read-modify-write keeps II = 1 */
            const uint32_t c = (k == prev ? prev_cnt : (tag[k] == r ? cnt[k] : 0u)) + 1u;
            cnt[k] = c;
            tag[k] = r;
            prev = k;
            prev_cnt = c;
        }
        int64_t sum = 0;
    normalizer:
        for (int j0 = 0; j0 < P::window; j0 += P::lanes) {
#pragma HLS PIPELINE II = 1
            for (int l = 0; l < P::lanes; l++) {
#pragma HLS UNROLL
                const int j = j0 + l;
                const int32_t k = m - j + 128;
                if (j < P::window && k >= 0 && tag[k] == r) {
                    sum += (int64_t)cnt[k] * P::terms[j];
                }
            }
        }
        const int32_t sum32 = wrap32(sum);
        const int32_t headroom_plus_one = clz32((uint32_t)sum32);
        const int32_t num_bits_over_unit = P::accumulation_integer_bits - headroom_plus_one;
        const int32_t shifted_minus_one =
            wrap32((int64_t)(((uint64_t)(uint32_t)sum32 << headroom_plus_one) & 0xFFFFFFFFull) - ((int64_t)1 << 31));
        const int64_t shifted_scale = one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
    out:
        for (int i = 0; i < P::depth; i++) {
#pragma HLS PIPELINE II = 1
            const int64_t o = rdbpot(srdhm(shifted_scale, P::exp_table[(int32_t)row[i] - m + 255]), exponent) - 128;
            const int8_t q = (int8_t)clamp64(o, -128, 127);
            y.write(P::has_post ? (int8_t)P::post_table[(int32_t)q + 128] : q);
        }
    }
}

}  // namespace efm

#endif
