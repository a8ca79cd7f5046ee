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

/* Single-rounding requantization in 32-bit operations (edgefmr's emitter precomputes {M, round, rshift, adj} per
 * output feature where it is exact: multiplier below 1 and an accumulator that always fits 32 bits):
 * (a M + 2^(t-1)) >> t with t = 31 - shift is SMMULR for t = 32 (rshift -1), and (SMMUL(a, M) + 2^(t-33)) >>
 * (t-32) for t >= 33 (the low word of the product cannot change the floor). */
static inline int32_t efm_requant32(const int32_t *q, int32_t a) {
    return q[2] < 0 ? efm_smmulr(a, q[0]) : (efm_smmul(a, q[0]) + q[1]) >> q[2];
}

static inline int8_t efm_clamp8(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

void efm_fully_connected(const efm_fully_connected_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         int8_t *y, void *scratch) {
    (void)bias; /* folded into p->bias_adj */
    const int32_t depth = p->depth, cols = p->cols;
    const int32_t groups = depth >> 2, tail = depth & 3;
    uint32_t *xs = (uint32_t *)scratch;
    int32_t r = 0;
    for (; r + 4 <= p->rows && groups > 0; r += 4) {
        const int8_t *xr = x + r * depth;
        efm_unpack4(xr, depth, groups, xs);
        for (int32_t c = 0; c < cols; c++) {
            const int8_t *wc = w + c * depth;
            int32_t acc[4];
            efm_dot4x1(xs, wc, groups, acc);
            for (int32_t k = depth - tail; k < depth; k++) {
                for (int32_t i = 0; i < 4; i++) {
                    acc[i] += (int32_t)xr[i * depth + k] * wc[k];
                }
            }
            int8_t *yc = y + r * cols + c;
            const int32_t *q = p->requant32 + 4 * c;
            const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
            if (q[2] >= -1) {
                const int32_t a32 = q[3];
                yc[0] = efm_clamp8(efm_requant32(q, acc[0] + a32) + zp, lo, hi);
                yc[cols] = efm_clamp8(efm_requant32(q, acc[1] + a32) + zp, lo, hi);
                yc[2 * cols] = efm_clamp8(efm_requant32(q, acc[2] + a32) + zp, lo, hi);
                yc[3 * cols] = efm_clamp8(efm_requant32(q, acc[3] + a32) + zp, lo, hi);
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
