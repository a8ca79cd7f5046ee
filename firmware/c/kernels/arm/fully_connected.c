/* FULLY_CONNECTED for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/fully_connected.c.
 *
 * The input zero point is folded into a per-channel 64-bit bias at generation time (bias - zp * sum(w)), so the
 * inner loop is a plain int8 dot product. Rows are processed four at a time: their int8 values are unpacked once
 * into int16 pairs in the kernel scratch (interleaved per group of four inputs), and each 32-bit weight word is
 * unpacked once (SXTB16) for the four rows: per 16 multiply-accumulates the loop runs one weight load, two SXTB16,
 * two LDM of four words and eight SMLAD (dual 16-bit MACs): 13 instructions, two such groups per loop iteration
 * with the counter (0.875 instructions per MAC in the loop; the 0.5 bound is the SMLAD alone). */
#ifdef EFM_ARM_FULLY_CONNECTED

#include "efm_arm.h"
#include "efm_kernel.h"
#include "fully_connected.h"

/* The requantized, clamped output of one accumulator in 64 bits (the general case). */
static int8_t efm_fc_out(int64_t total, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
    const int64_t v = efm_mbqm_single(total, mult, shift) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Four outputs of one output feature (rows r..r+3, `stride` bytes apart) from accumulators that already hold the
 * folded bias: single-rounding requantization in 32-bit operations (edgefmr's emitter precomputes {M, offset,
 * rshift, adj} per output feature where it is exact): (a M + 2^(t-1)) >> t + zp with t = 31 - shift is
 * SMMULR(a, M) + zp for t = 32 (rshift -1, offset zp), and (SMMUL(a, M) + offset) >> (t - 32) for t >= 33 with
 * offset 2^(t-33) + zp 2^(t-32) (the low word of the product cannot change the floor; adding zp before the shift
 * is exact). `act`: the activation narrows [-128, 127] to [lo, hi]. */
static inline void efm_fc_out4(const int32_t *q, const int32_t acc[4], int8_t *y, int32_t stride, int act, int32_t lo,
                               int32_t hi) {
    const int32_t m = q[0], off = q[1], rs = q[2];
    int32_t v[4];
    if (rs < 0) {
        for (int32_t i = 0; i < 4; i++) {
            v[i] = efm_ssat8(efm_smmulr(acc[i], m) + off);
        }
    } else {
        for (int32_t i = 0; i < 4; i++) {
            v[i] = efm_ssat8((efm_smmul(acc[i], m) + off) >> rs);
        }
    }
    if (act) {
        for (int32_t i = 0; i < 4; i++) {
            v[i] = v[i] < lo ? lo : (v[i] > hi ? hi : v[i]);
        }
    }
    y[0] = (int8_t)v[0];
    y[stride] = (int8_t)v[1];
    y[2 * stride] = (int8_t)v[2];
    y[3 * stride] = (int8_t)v[3];
}

void efm_fully_connected(const efm_fully_connected_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         int8_t *y, void *scratch) {
    (void)bias; /* folded into p->bias_adj */
    const int32_t depth = p->depth, cols = p->cols;
    const int32_t groups = depth >> 2, tail = depth & 3;
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    const int act = lo > -128 || hi < 127;
    uint32_t *xs = (uint32_t *)scratch;
    int32_t r = 0;
    for (; r + 4 <= p->rows && groups > 0; r += 4) {
        const int8_t *xr = x + r * depth;
        efm_unpack4(xr, depth, groups, xs);
        const int8_t *wc = w;
        const int32_t *q = p->requant32;
        int8_t *yc = y + r * cols;
        for (int32_t c = 0; c < cols; c++, wc += depth, q += 4, yc++) {
            const int fast = q[2] >= -1;
            const int32_t a0 = fast ? q[3] : 0;
            int32_t acc[4] = {a0, a0, a0, a0};
            efm_dot4x1_acc(xs, wc, groups, acc);
            for (int32_t k = depth - tail; k < depth; k++) {
                for (int32_t i = 0; i < 4; i++) {
                    acc[i] += (int32_t)xr[i * depth + k] * wc[k];
                }
            }
            if (fast) {
                efm_fc_out4(q, acc, yc, cols, act, lo, hi);
            } else {
                const int32_t mult = p->mult[c], shift = p->shift[c];
                const int64_t adj = p->bias_adj[c];
                for (int32_t i = 0; i < 4; i++) {
                    yc[i * cols] = efm_fc_out((int64_t)acc[i] + adj, mult, shift, zp, lo, hi);
                }
            }
        }
    }
    for (; r < p->rows; r++) {
        const int8_t *xr = x + r * depth;
        for (int32_t c = 0; c < cols; c++) {
            const int8_t *wc = w + c * depth;
            int32_t acc = 0;
            int32_t k = 0;
            for (; k + 4 <= depth; k += 4) {
                const uint32_t xv = efm_load4(xr + k), wv = efm_load4(wc + k);
                acc = efm_smlad(efm_sxtb16(xv), efm_sxtb16(wv), acc);
                acc = efm_smlad(efm_sxtb16_ror8(xv), efm_sxtb16_ror8(wv), acc);
            }
            for (; k < depth; k++) {
                acc += (int32_t)xr[k] * wc[k];
            }
            y[r * cols + c] = efm_fc_out((int64_t)acc + p->bias_adj[c], p->mult[c], p->shift[c], p->output_zp,
                                         p->act_min, p->act_max);
        }
    }
}

#endif
