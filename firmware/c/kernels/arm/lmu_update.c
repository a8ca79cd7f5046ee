/* LMU_UPDATE for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/lmu_update.c.
 *
 * The state update is a d x d int32 matrix-vector product per channel and step in 64-bit accumulators: per group
 * of four MACs one LDM of four A values, one LDM of four state values and four SMLAL (two groups per loop
 * iteration, 14 instructions per 8 MACs); for orders that are multiples of 8, eight rows run in one call with the
 * rows loop inside the assembly (its counters in memory). The rounding shift, the input term and the int32 clamp
 * of the next state run once per state value on the 64-bit sum's two words; the int8 states are requantized in 32
 * bits where the emitter found it exact (SMMLA with the rounding and output zero point folded in, one shift, SSAT),
 * else in 64 bits. */
#ifdef EFM_ARM_LMU_UPDATE

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "lmu_update.h"

#define EFM_LMU_GROUP                                                                                           \
    "ldm %[a]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"                                                               \
    "ldm %[m]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"                                                               \
    "smlal %[lo], %[hi], %[a0], %[m0]\n\t"                                                                     \
    "smlal %[lo], %[hi], %[a1], %[m1]\n\t"                                                                     \
    "smlal %[lo], %[hi], %[a2], %[m2]\n\t"                                                                     \
    "smlal %[lo], %[hi], %[a3], %[m3]\n\t"

/* init + sum_j a[j] m[j] over `groups` groups of four (exact in 64 bits: the row L1 norm of A is below 2^32). The
 * LDM registers are pinned in ascending order (r4-r7, r8-r11). */
__attribute__((noinline)) static int64_t efm_lmu_dot(const int32_t *a, const int32_t *m, int32_t groups,
                                                     int64_t init) {
    register int32_t a0 __asm__("r4");
    register int32_t a1 __asm__("r5");
    register int32_t a2 __asm__("r6");
    register int32_t a3 __asm__("r7");
    register int32_t m0 __asm__("r8");
    register int32_t m1 __asm__("r9");
    register int32_t m2 __asm__("r10");
    register int32_t m3 __asm__("r11");
    uint32_t lo = (uint32_t)init;
    int32_t hi = (int32_t)(init >> 32);
    int32_t pairs = groups >> 1;
    if (groups & 1) {
        __asm__ volatile(EFM_LMU_GROUP
                         : [lo] "+r"(lo), [hi] "+r"(hi), [a] "+r"(a), [m] "+r"(m), [a0] "=&r"(a0), [a1] "=&r"(a1),
                           [a2] "=&r"(a2), [a3] "=&r"(a3), [m0] "=&r"(m0), [m1] "=&r"(m1), [m2] "=&r"(m2),
                           [m3] "=&r"(m3)
                         :
                         : "memory");
    }
    if (pairs > 0) {
        __asm__ volatile("1:\n\t" EFM_LMU_GROUP EFM_LMU_GROUP
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [lo] "+r"(lo), [hi] "+r"(hi), [a] "+r"(a), [m] "+r"(m), [n] "+r"(pairs), [a0] "=&r"(a0),
                           [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [m0] "=&r"(m0), [m1] "=&r"(m1),
                           [m2] "=&r"(m2), [m3] "=&r"(m3)
                         :
                         : "cc", "memory");
    }
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
}

/* The loop state of efm_lmu_rows8 that does not fit in registers (read and written by the assembly). */
typedef struct {
    const int32_t *m;
    int32_t pairs;
    int32_t rnd_lo, rnd_hi;
    int64_t *out;
    int32_t rows;
} efm_lmu_rows_ctx;

/* out[r] = init + sum_j a[r d + j] m[j] for the 8 rows r of a, d = 8 pairs (A's rows contiguous): the rows loop
 * inside the assembly (its state in memory), 14 instructions per 8 MACs and about 12 per row. */
__attribute__((noinline)) static void efm_lmu_rows8(const int32_t *a, const int32_t *m, int32_t pairs, int64_t init,
                                                    int64_t out[8]) {
    register int32_t a0 __asm__("r4");
    register int32_t a1 __asm__("r5");
    register int32_t a2 __asm__("r6");
    register int32_t a3 __asm__("r7");
    register int32_t m0 __asm__("r8");
    register int32_t m1 __asm__("r9");
    register int32_t m2 __asm__("r10");
    register int32_t m3 __asm__("r11");
    efm_lmu_rows_ctx c = {m, pairs, (int32_t)(uint32_t)init, (int32_t)(init >> 32), out, 8};
    uint32_t lo;
    int32_t hi, n;
    const int32_t *pm;
    __asm__ volatile("1:\n\t"
                     "ldr %[lo], %[rlo]\n\t"
                     "ldr %[hi], %[rhi]\n\t"
                     "ldr %[m], %[mb]\n\t"
                     "ldr %[n], %[np]\n\t"
                     "2:\n\t" EFM_LMU_GROUP EFM_LMU_GROUP
                     "subs %[n], %[n], #1\n\t"
                     "bne 2b\n\t"
                     "ldr %[n], %[op]\n\t"
                     "strd %[lo], %[hi], [%[n]], #8\n\t"
                     "str %[n], %[op]\n\t"
                     "ldr %[n], %[rows]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "str %[n], %[rows]\n\t"
                     "bne 1b\n\t"
                     : [lo] "=&r"(lo), [hi] "=&r"(hi), [a] "+r"(a), [m] "=&r"(pm), [n] "=&r"(n), [a0] "=&r"(a0),
                       [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [m0] "=&r"(m0), [m1] "=&r"(m1),
                       [m2] "=&r"(m2), [m3] "=&r"(m3), [op] "+m"(c.out), [rows] "+m"(c.rows)
                     : [rlo] "m"(c.rnd_lo), [rhi] "m"(c.rnd_hi), [mb] "m"(c.m), [np] "m"(c.pairs)
                     : "cc", "memory");
}

/* sat32(((acc + rnd) >> fa) + bu) for 1 <= fa <= 31 (acc already holds the rounding constant), |bu| < 2^62. */
static inline int32_t efm_lmu_next(int64_t acc, int32_t fa, int64_t bu) {
    const uint32_t lo = (uint32_t)acc, hi = (uint32_t)((uint64_t)acc >> 32);
    const int64_t v = (int64_t)(((uint64_t)((int32_t)hi >> fa) << 32) | ((lo >> fa) | (hi << (32 - fa)))) + bu;
    const int32_t vl = (int32_t)v, vh = (int32_t)((uint64_t)v >> 32);
    if (vh != (vl >> 31)) { /* outside int32 */
        return vh < 0 ? EFM_INT32_MIN : EFM_INT32_MAX;
    }
    return vl;
}

/* Order 1 (e.g. a running sum): each channel's state in a register across its steps; as the general loop. */
__attribute__((noinline)) static void efm_lmu_order1(const efm_lmu_update_params *p, const int8_t *u,
                                                     const int32_t *a, const int32_t *b, const int32_t *m0, int8_t *y,
                                                     int32_t *m_out) {
    const int32_t n = p->channels, steps = p->steps, fa = p->a_frac_bits, a0 = a[0], b0 = b[0];
    const int32_t mult = p->mult, shift = p->shift, rs = p->rshift, rnd32 = p->round, yzp = p->output_zp;
    const int64_t rnd = (int64_t)1 << (fa - 1);
    for (int32_t ch = 0; ch < n; ch++) {
        int32_t v = m0 ? m0[ch] : 0;
        for (int32_t t = 0; t < steps; t++) {
            const int32_t uc = (int32_t)u[t * n + ch] - p->input_zp;
            v = efm_lmu_next((int64_t)a0 * v + rnd, fa, (int64_t)b0 * uc);
            y[t * n + ch] = rs > 0 ? efm_ssat8(efm_smmla(v, mult, rnd32) >> rs)
                                   : (int8_t)efm_clamp64(efm_mbqm_single(v, mult, shift) + yzp, -128, 127);
        }
        m_out[ch] = v;
    }
}

void efm_lmu_update(const efm_lmu_update_params *p, const int8_t *u, const int32_t *a, const int32_t *b,
                    const int32_t *m0, int8_t *y, int32_t *m_out, int32_t *scratch) {
    const int32_t d = p->order, n = p->channels, steps = p->steps, fa = p->a_frac_bits;
    const int32_t groups = d >> 2, tail = d & ~3;
    const int32_t mult = p->mult, shift = p->shift, rs = p->rshift, rnd32 = p->round, yzp = p->output_zp;
    const int64_t rnd = (int64_t)1 << (fa - 1);
    if (d == 1) {
        efm_lmu_order1(p, u, a, b, m0, y, m_out);
        return;
    }
    for (int32_t ch = 0; ch < n; ch++) {
        int32_t *m = m_out + ch * d;
        if (m0 != m_out) {
            for (int32_t i = 0; i < d; i++) {
                m[i] = m0 ? m0[ch * d + i] : 0;
            }
        }
        for (int32_t t = 0; t < steps; t++) {
            const int32_t uc = (int32_t)u[t * n + ch] - p->input_zp; /* 9 bits */
            int32_t i = 0;
            if ((d & 7) == 0) { /* whole pairs of groups: eight rows per call */
                for (; i < d; i += 8) {
                    int64_t acc[8];
                    efm_lmu_rows8(a + i * d, m, d >> 3, rnd, acc);
                    for (int32_t k = 0; k < 8; k++) {
                        scratch[i + k] = efm_lmu_next(acc[k], fa, (int64_t)b[i + k] * uc);
                    }
                }
            }
            for (; i < d; i++) {
                const int32_t *ai = a + i * d;
                int64_t acc = groups > 0 ? efm_lmu_dot(ai, m, groups, rnd) : rnd;
                for (int32_t j = tail; j < d; j++) {
                    acc += (int64_t)ai[j] * m[j];
                }
                scratch[i] = efm_lmu_next(acc, fa, (int64_t)b[i] * uc);
            }
            int8_t *yt = y + ((int64_t)t * n + ch) * d;
            if (rs > 0) {
                for (int32_t i = 0; i < d; i++) {
                    const int32_t v = scratch[i];
                    m[i] = v;
                    yt[i] = efm_ssat8(efm_smmla(v, mult, rnd32) >> rs);
                }
            } else {
                for (int32_t i = 0; i < d; i++) {
                    m[i] = scratch[i];
                    yt[i] = (int8_t)efm_clamp64(efm_mbqm_single(m[i], mult, shift) + yzp, -128, 127);
                }
            }
        }
    }
}

#endif
