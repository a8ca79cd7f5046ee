/* LAYER_NORM for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/layer_norm.c.
 *
 * Row statistics four bytes per word: SXTB16 then SMLAD for the sum of squares and SMLAD against 0x00010001 for
 * the sum. Per row the exact square root from a 16-step 32-bit root and one 32-bit division (efm_isqrt_norm) and
 * the portable kernel's 64-bit reciprocal. Per element: d = C x - S1,
 * n = (d recip + 2^(t-1)) >> t as SMMULR(d << (32 - t), recip) for t <= 32 (the shifted d fits 32 bits, see
 * below) or (SMMLA(d, recip, 2^(t-33)) >> (t - 32)) for t > 32, gamma n in 32 bits (|n| <= 2^16 sqrt(C - 1)
 * (1 + 2^-29), |gamma n| < 2^31 for C <= 16384), and the single-rounding requantization
 * (gamma n M + 2^(30-shift)) >> (31-shift) as (SMMLA(gamma n, M, 2^(r-1)) >> r), r = -shift - 1 >= 1 (nested
 * floors: the low word of the product cannot change the result), plus zp + beta, all four per-channel words from
 * one LDM of the emitter's table. Without the table (a shift above -2) the portable arithmetic runs. */
#ifdef EFM_ARM_LAYER_NORM

#include "layer_norm.h"

/* efm_arm.h also holds other kernels' helpers that this file does not call. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"

#define EFM_NORM_FRAC_BITS 16

/* floor(sqrt(n)) for 2^60 <= n < 2^62 (the normalized q << 2k), the same value as the portable kernel's 32-step
 * method: s = isqrt(n >> 32) in [2^14, 2^15) gives s 2^16 <= sqrt(n) < (s + 1) 2^16; the low part e satisfies
 * 2 s 2^16 e + e^2 <= R = n - s^2 2^32, so e0 = floor(R / (s 2^17)) (a 32-bit division) is at least e and exceeds
 * it by at most e^2 / (s 2^17) + 1 <= 3; then down (and, for safety, up) to the exact floor. */
static uint32_t efm_isqrt_norm(uint64_t n) {
    const uint32_t s = efm_isqrt32((uint32_t)(n >> 32));
    const uint64_t r0 = (uint64_t)s << 16;
    const uint64_t rem = n - r0 * r0;
    uint32_t r = (uint32_t)r0 + (uint32_t)(rem >> 17) / s;
    while ((uint64_t)r * r > n) {
        r--;
    }
    while ((uint64_t)(r + 1) * (r + 1) <= n) {
        r++;
    }
    return r;
}

static int32_t efm_bit_length64(uint64_t n) {
    const uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
    return hi ? 64 - __builtin_clz(hi) : (lo ? 32 - __builtin_clz(lo) : 0);
}

/* The requantized, saturated output of gamma n with the next channel's {M, 2^(r-1), r, zp + beta} (one LDM). */
static inline __attribute__((always_inline)) int32_t efm_ln_out(int32_t gn, const int32_t **rq) {
    register int32_t m __asm__("r4");
    register int32_t rnd __asm__("r5");
    register int32_t rs __asm__("r6");
    register int32_t bias __asm__("r7");
    __asm__ volatile("ldmia %[p]!, {r4, r5, r6, r7}"
                     : [p] "+r"(*rq), "=r"(m), "=r"(rnd), "=r"(rs), "=r"(bias)
                     :
                     : "memory");
    return efm_ssat8((efm_smmla(gn, m, rnd) >> rs) + bias);
}

void efm_layer_norm(const efm_layer_norm_params *p, const int8_t *x, const int8_t *gamma, const int32_t *beta,
                    int8_t *y) {
    const int32_t ch = p->channels;
    for (int32_t r = 0; r < p->rows; r++, x += ch, y += ch) {
        int32_t s1 = 0, s2 = 0, i = 0;
        for (; i + 4 <= ch; i += 4) {
            const uint32_t w = efm_load4(x + i);
            const uint32_t a = efm_sxtb16(w), b = efm_sxtb16_ror8(w);
            s2 = efm_smlad(a, a, s2);
            s2 = efm_smlad(b, b, s2);
            s1 = efm_smlad(a, 0x00010001u, s1);
            s1 = efm_smlad(b, 0x00010001u, s1);
        }
        for (; i < ch; i++) {
            s1 += x[i];
            s2 += (int32_t)x[i] * x[i];
        }
        const int64_t q = (int64_t)ch * s2 - (int64_t)s1 * s1 + p->eps;
        int64_t recip = 0;
        int32_t t = 60 - EFM_NORM_FRAC_BITS;
        if (q > 0) {
            const int32_t k = (62 - efm_bit_length64((uint64_t)q)) / 2;
            const uint64_t root = efm_isqrt_norm((uint64_t)q << (2 * k));
            recip = (int64_t)(((uint64_t)1 << 60) / (root > 0 ? root : 1u));
            t -= k;
        }
        const int32_t *rq = p->requant;
        if (rq == 0 || recip > 0x7FFFFFFF) {
            for (i = 0; i < ch; i++) {
                const int64_t d = (int64_t)ch * x[i] - s1;
                const int64_t n = (d * recip + ((int64_t)1 << (t - 1))) >> t;
                int64_t v;
                if (rq) {
                    v = efm_mbqm_single((int64_t)gamma[i] * n, rq[4 * i], -1 - rq[4 * i + 2]) + rq[4 * i + 3];
                } else {
                    v = efm_mbqm_single((int64_t)gamma[i] * n, p->mult[i], p->shift[i]) + p->output_zp;
                    if (beta) {
                        v += beta[i];
                    }
                }
                y[i] = (int8_t)efm_clamp64(v, -128, 127);
            }
            continue;
        }
        const int32_t rc = (int32_t)recip;
        if (t <= 32) {
            /* n = SMMULR(d << (32 - t), recip): |d| <= sqrt(C q) and 2^k <= 2^31 / sqrt(q) bound |d| << (k - 12)
             * by sqrt(C) 2^19 < 2^31; the shifted d comes from one MLA in wrapping 32-bit arithmetic. */
            const uint32_t cl = (uint32_t)ch << (32 - t), nsl = (uint32_t)-s1 << (32 - t);
            for (i = 0; i < ch; i++) {
                const int32_t dl = (int32_t)((uint32_t)x[i] * cl + nsl);
                y[i] = (int8_t)efm_ln_out(gamma[i] * efm_smmulr(dl, rc), &rq);
            }
        } else {
            const int32_t th = t - 32, rnd = 1 << (th - 1);
            for (i = 0; i < ch; i++) {
                const int32_t d = x[i] * ch - s1;
                y[i] = (int8_t)efm_ln_out(gamma[i] * (efm_smmla(d, rc, rnd) >> th), &rq);
            }
        }
    }
}

#endif
