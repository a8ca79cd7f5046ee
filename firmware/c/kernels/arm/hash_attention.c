/* HASH_ATTENTION for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/hash_attention.c (the linear form
 * of docs/ops/HASH_ATTENTION.md, additions only in the Q.K path).
 *
 * Key side: per key, the value row is added (SXTAB, raw bytes) into V and into P[k] of each set code bit k; the
 * zero point is taken out once at the end (P[k] -= n1[k] zp, V -= Nk zp). Query side: with the set bits S and the
 * clear bits C of the query code, num = |C| V + sum_{k in S} P[k] - sum_{k in C} P[k] (the selection P[k] or
 * V - P[k] per bit, regrouped): two lists of row pointers per query, then per block of four columns one load of
 * each listed row and four additions or subtractions in registers. The reciprocal floor(2^(29+L) / den) is a
 * long division by UDIV in chunks of 32 - L bits (den < 2^23), the normalization w = (num R + 2^(13+L)) >>
 * (14+L) is one SMMULR of num 2^(18-L) (|num| < 2^(L+8)) or SMMUL, add, shift for L > 18, and the output
 * requantization SMMLA + shift + SSAT where the emitter found it exact (rshift >= 1), else 64-bit. */
#ifdef EFM_ARM_HASH_ATTENTION

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "hash_attention.h"

/* The nibble form's largest depth with the query sums on the stack (words of two columns). */
#define EFM_HA_MAX_WORDS 256

/* Code bits per query whose row lists are built at once (the lists live on the stack). */
#define EFM_HA_CHUNK 64

size_t efm_hash_attention_scratch_bytes(const efm_hash_attention_params *p) {
    return (size_t)(p->bits * p->depth + p->depth + p->bits) * sizeof(int32_t);
}

/* 0x01 in each byte where the signed byte of a >= that of b, else 0 (SSUB8 sets GE per byte, SEL picks). */
static inline uint32_t efm_ha_ge01(uint32_t a, uint32_t b) {
    uint32_t r, t;
    __asm__("ssub8 %1, %2, %3\n\t"
            "sel %0, %4, %5"
            : "=r"(r), "=&r"(t)
            : "r"(a), "r"(b), "r"(0x01010101u), "r"(0u));
    return r;
}

/* Code bits k0 .. k0 + 31 (those below bits) of row `row` as a mask, bit k - k0 for bit k. int8 codes: four at a
 * time, SSUB8 against the zero point (GE per byte where q >= zp), SEL, and the four bytes' 0/1 gathered into bits
 * 28..31 by one multiply by 0x10204080 (the partial products never overlap). */
static uint32_t efm_ha_mask(const efm_hash_attention_params *p, const void *codes, int32_t row, int32_t k0,
                            int32_t zp) {
    const int32_t n = p->bits - k0 < 32 ? p->bits - k0 : 32;
    uint32_t m = 0;
    if (p->packed) {
        const uint8_t *c = (const uint8_t *)codes + row * p->code_bytes + (k0 >> 3);
        for (int32_t i = 0; i < (n + 7) >> 3; i++) {
            m |= (uint32_t)c[i] << (8 * i);
        }
    } else {
        const int8_t *c = (const int8_t *)codes + row * p->code_bytes + k0;
        const uint32_t zp4 = (uint32_t)(zp & 0xFF) * 0x01010101u;
        int32_t i = 0;
        for (; i + 4 <= n; i += 4) {
            m |= ((efm_ha_ge01(efm_load4(c + i), zp4) * 0x10204080u) >> 28) << i;
        }
        for (; i < n; i++) {
            m |= (uint32_t)(c[i] >= zp) << i;
        }
    }
    return n == 32 ? m : m & ((1u << n) - 1);
}

static inline int32_t efm_ha_sxtab(int32_t acc, uint32_t x, int32_t byte) {
    int32_t r;
    switch (byte) {
    case 0:
        __asm__("sxtab %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
        break;
    case 1:
        __asm__("sxtab %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
        break;
    case 2:
        __asm__("sxtab %0, %1, %2, ror #16" : "=r"(r) : "r"(acc), "r"(x));
        break;
    default:
        __asm__("sxtab %0, %1, %2, ror #24" : "=r"(r) : "r"(acc), "r"(x));
        break;
    }
    return r;
}

/* acc[0..d) += the int8 row v (raw values): per four values one LDR, one LDM, four SXTAB and one STM (registers
 * pinned in ascending order for LDM / STM). */
__attribute__((noinline)) static void efm_ha_add_row(int32_t *acc, const int8_t *v, int32_t d) {
    register int32_t a0 __asm__("r4");
    register int32_t a1 __asm__("r5");
    register int32_t a2 __asm__("r6");
    register int32_t a3 __asm__("r7");
    int32_t groups = d >> 2;
    uint32_t w;
    if (groups > 0) {
        __asm__ volatile("1:\n\t"
                         "ldr %[w], [%[v]], #4\n\t"
                         "ldm %[acc], {%[a0], %[a1], %[a2], %[a3]}\n\t"
                         "sxtab %[a0], %[a0], %[w]\n\t"
                         "sxtab %[a1], %[a1], %[w], ror #8\n\t"
                         "sxtab %[a2], %[a2], %[w], ror #16\n\t"
                         "sxtab %[a3], %[a3], %[w], ror #24\n\t"
                         "stmia %[acc]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [acc] "+r"(acc), [v] "+r"(v), [n] "+r"(groups), [w] "=&r"(w), [a0] "=&r"(a0),
                           [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
                         :
                         : "cc", "memory");
    }
    for (int32_t c = 0; c < (d & 3); c++) {
        acc[c] += v[c];
    }
}

/* floor(2^(29+L) / den) for 0 < den < 2^L <= 2^23: long division, 32 - L bits per UDIV (for 2 <= L <= 11 the
 * two chunks of 32 - L and 2 L - 3 bits unrolled). */
static uint32_t efm_ha_recip(uint32_t den, int32_t len) {
    if (len >= 2 && len <= 11) {
        const uint32_t r = 1u << (32 - len), q1 = r / den, s2 = (uint32_t)(2 * len - 3);
        const uint32_t r2 = (r - q1 * den) << s2;
        return (q1 << s2) + r2 / den;
    }
    uint32_t q = 0, r = 1;
    const int32_t step = 32 - len;
    for (int32_t left = 29 + len; left > 0;) {
        const int32_t s = left < step ? left : step;
        r <<= s;
        const uint32_t qq = r / den;
        q = (q << s) + qq;
        r -= qq * den;
        left -= s;
    }
    return q;
}

/* Row pointers (into P) of the set bits k0 <= k < k1 (k1 - k0 <= EFM_HA_CHUNK) of query row `row` from list[0]
 * up, of the clear ones from list[k1 - k0 - 1] down; returns the number of set bits; *den gets sum over the set
 * bits of n1[k] and over the clear ones of Nk - n1[k] added. */
static int32_t efm_ha_lists(const efm_hash_attention_params *p, const void *hq, int32_t row, int32_t k0, int32_t k1,
                            const int32_t *psum, const int32_t *ones, const int32_t **list, int32_t *den) {
    const int32_t d = p->depth, nk = p->n_keys;
    int32_t ns = 0, nc = k1 - k0, dn = 0;
    for (int32_t kb = k0; kb < k1; kb += 32) {
        const uint32_t m = efm_ha_mask(p, hq, row, kb, p->q_zp);
        const int32_t n = k1 - kb < 32 ? k1 - kb : 32;
        uint32_t clear = ~m & (n == 32 ? 0xFFFFFFFFu : (1u << n) - 1);
        for (uint32_t s = m; s != 0; s &= s - 1) {
            const int32_t k = kb + __builtin_ctz(s);
            list[ns++] = psum + k * d;
            dn += ones[k];
        }
        for (; clear != 0; clear &= clear - 1) {
            const int32_t k = kb + __builtin_ctz(clear);
            list[--nc] = psum + k * d;
            dn += nk - ones[k];
        }
    }
    *den += dn;
    return ns;
}

/* The normalization and requantization of one query: w = round(num R / 2^(14+L)) as SMMULR(num << (18 - L), R)
 * for L <= 18, else (SMMUL(num, R) + 2^(L-19)) >> (L - 18); then the output requantization. */
typedef struct {
    int32_t recip, lshift, rnd, rshift; /* rshift: the normalization's right shift for L > 18, else 0 */
    int32_t mult, shift, round, out_rshift, zp;
} efm_ha_norm;

static inline __attribute__((always_inline)) int8_t efm_ha_out(const efm_ha_norm *q, int32_t num) {
    const int32_t w = q->rshift == 0 ? efm_smmulr((int32_t)((uint32_t)num << q->lshift), q->recip)
                                     : (efm_smmul(num, q->recip) + q->rnd) >> q->rshift;
    if (q->out_rshift > 0) {
        return efm_ssat8(efm_smmla(w, q->mult, q->round) >> q->out_rshift);
    }
    return (int8_t)efm_clamp64(efm_mbqm_single(w, q->mult, q->shift) + q->zp, -128, 127);
}

#define EFM_HA_ROW(OP)                                                                                          \
    "ldr %[r], [%[l]], #4\n\t"                                                                                   \
    "add %[r], %[r], %[off]\n\t"                                                                                 \
    "ldm %[r], {%[w0], %[w1], %[w2], %[w3]}\n\t" OP " %[a0], %[a0], %[w0]\n\t" OP " %[a1], %[a1], %[w1]\n\t" OP   \
    " %[a2], %[a2], %[w2]\n\t" OP " %[a3], %[a3], %[w3]\n\t"

/* acc[0..3] = nclear * v[0..3] + the columns off / 4 .. off / 4 + 3 of the rows list[0..ns) - those of
 * list[ns..n): per row one pointer load, one LDM and four additions (LDM registers pinned in ascending order). */
__attribute__((noinline)) static void efm_ha_block(const int32_t *const *list, int32_t ns, int32_t n, int32_t off,
                                                   const int32_t *v, int32_t nclear, int32_t acc[4]) {
    register int32_t w0 __asm__("r4");
    register int32_t w1 __asm__("r5");
    register int32_t w2 __asm__("r6");
    register int32_t w3 __asm__("r7");
    int32_t a0 = nclear * v[0], a1 = nclear * v[1], a2 = nclear * v[2], a3 = nclear * v[3];
    const int32_t *const *mid = list + ns, *const *end = list + n;
    const int32_t *r;
    if (ns > 0) {
        __asm__ volatile("1:\n\t" EFM_HA_ROW("add") "cmp %[l], %[e]\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [l] "+r"(list), [r] "=&r"(r),
                           [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                         : [off] "r"(off), [e] "r"(mid)
                         : "cc", "memory");
    }
    if (n > ns) {
        __asm__ volatile("1:\n\t" EFM_HA_ROW("sub") "cmp %[l], %[e]\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [l] "+r"(mid), [r] "=&r"(r),
                           [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                         : [off] "r"(off), [e] "r"(end)
                         : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One query's outputs when all its code bits are in one pair of lists (bits <= EFM_HA_CHUNK). */
static void efm_ha_query(const int32_t *const *list, int32_t ns, int32_t n, const int32_t *vsum, int32_t nclear,
                         int32_t d, const efm_ha_norm *q, int32_t bias, int8_t *y) {
    const int32_t ls = q->lshift, r = q->recip, m = q->mult, rd = q->round, rs = q->out_rshift;
    const int fast = q->rshift == 0 && rs > 0;
    int32_t c = 0;
    for (; c + 4 <= d; c += 4) {
        int32_t a[4];
        efm_ha_block(list, ns, n, 4 * c, vsum + c, nclear, a);
        a[0] -= bias;
        a[1] -= bias;
        a[2] -= bias;
        a[3] -= bias;
        if (fast) {
            y[c] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[0] << ls), r), m, rd) >> rs);
            y[c + 1] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[1] << ls), r), m, rd) >> rs);
            y[c + 2] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[2] << ls), r), m, rd) >> rs);
            y[c + 3] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[3] << ls), r), m, rd) >> rs);
        } else {
            for (int32_t e = 0; e < 4; e++) {
                y[c + e] = efm_ha_out(q, a[e]);
            }
        }
    }
    for (; c < d; c++) {
        int32_t a = nclear * vsum[c] - bias;
        for (int32_t k = 0; k < n; k++) {
            a += k < ns ? list[k][c] : -list[k][c];
        }
        y[c] = efm_ha_out(q, a);
    }
}

/* The normalization of one query with similarity sum den (efm_ha_norm). */
static inline efm_ha_norm efm_ha_norm_of(const efm_hash_attention_params *p, int32_t den) {
    const int32_t len = den > 0 ? 32 - __builtin_clz((uint32_t)den) : 0;
    const uint32_t recip = den > 0 ? efm_ha_recip((uint32_t)den, len) : 0;
    const efm_ha_norm q = {(int32_t)recip, len <= 18 ? 18 - len : 0, len > 18 ? 1 << (len - 19) : 0,
                           len > 18 ? len - 18 : 0, p->mult, p->shift, p->round, p->rshift, p->output_zp};
    return q;
}

/* One byte-wise code row as a 32-bit word (code bytes <= 4), padding bits cleared. */
static inline uint32_t efm_ha_code(const efm_hash_attention_params *p, const uint8_t *c, uint32_t valid) {
    if (p->code_bytes == 2) { /* one (unaligned) halfword load */
        uint16_t h;
        __builtin_memcpy(&h, c, 2);
        return h & valid;
    }
    uint32_t w = c[0];
    for (int32_t i = 1; i < p->code_bytes; i++) {
        w |= (uint32_t)c[i] << (8 * i);
    }
    return w & valid;
}

/* num[0 .. 4 blocks) = sum over the key pairs of SMLAD(similarity pair, value pairs), block by block (four columns
 * each): per two key pairs one LDM of two similarity words, two LDM of four value words and eight SMLAD, the first
 * two pairs by SMUAD. The loop state lives in the three words before sw (all 14 free registers hold data):
 * sw[-3] = pairs / 2 (the pairs are padded to an even count), sw[-2] = num (advancing), sw[-1] = blocks left.
 * A plain function whose clobbers make the compiler save r4..r11 and lr, so -fstack-usage counts its frame. */
__attribute__((noinline)) static void efm_ha_sv(uint32_t *sw, const uint32_t *vt) {
    register uint32_t *base __asm__("r0") = sw;
    register const uint32_t *vp __asm__("r1") = vt;
    __asm__ volatile("1:\n\t"
                     "mov lr, r0\n\t"
                     "ldmia lr!, {r3, r12}\n\t"
                     "ldmia r1!, {r4, r5, r6, r7}\n\t"
                     "smuad r8, r3, r4\n\t"
                     "smuad r9, r3, r5\n\t"
                     "smuad r10, r3, r6\n\t"
                     "smuad r11, r3, r7\n\t"
                     "ldmia r1!, {r4, r5, r6, r7}\n\t"
                     "smlad r8, r12, r4, r8\n\t"
                     "smlad r9, r12, r5, r9\n\t"
                     "smlad r10, r12, r6, r10\n\t"
                     "smlad r11, r12, r7, r11\n\t"
                     "ldr r2, [r0, #-12]\n\t"
                     "subs r2, r2, #1\n\t"
                     "beq 3f\n\t"
                     "2:\n\t"
                     "ldmia lr!, {r3, r12}\n\t"
                     "ldmia r1!, {r4, r5, r6, r7}\n\t"
                     "smlad r8, r3, r4, r8\n\t"
                     "smlad r9, r3, r5, r9\n\t"
                     "smlad r10, r3, r6, r10\n\t"
                     "smlad r11, r3, r7, r11\n\t"
                     "ldmia r1!, {r4, r5, r6, r7}\n\t"
                     "smlad r8, r12, r4, r8\n\t"
                     "smlad r9, r12, r5, r9\n\t"
                     "smlad r10, r12, r6, r10\n\t"
                     "smlad r11, r12, r7, r11\n\t"
                     "subs r2, r2, #1\n\t"
                     "bne 2b\n\t"
                     "3:\n\t"
                     "ldr r2, [r0, #-8]\n\t"
                     "stmia r2!, {r8, r9, r10, r11}\n\t"
                     "str r2, [r0, #-8]\n\t"
                     "ldr r2, [r0, #-4]\n\t"
                     "subs r2, r2, #1\n\t"
                     "str r2, [r0, #-4]\n\t"
                     "bne 1b\n\t"
                     : "+r"(base), "+r"(vp)
                     :
                     : "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* efm_ha_sv for 8 key pairs (16 keys) with the normalization and requantization fused (the fast path: rshift 0,
 * out_rshift >= 1), straight-line per block: per pair of key pairs one LDRD of the similarities (immediate offsets:
 * sw is not advanced), two LDM of four value words and eight SMLAD (the first pair SMUAD); then one LDMDB of the six
 * words before sw {lshift, recip, mult, round, out_rshift, y} and per column LSL, SMMULR, SMMLA, ASR, SSAT, STRB, y
 * stored back. The block count in r2. A plain function (clobbers, no naked body): -fstack-usage counts it. */
#define EFM_HA_SV8_PAIR(OFF, OP)                                                                                 \
    "ldrd r3, r12, [r0, #" OFF "]\n\t"                                                                          \
    "ldmia r1!, {r4, r5, r6, r7}\n\t" OP                                                                        \
    "ldmia r1!, {r4, r5, r6, r7}\n\t"                                                                           \
    "smlad r8, r12, r4, r8\n\t"                                                                                 \
    "smlad r9, r12, r5, r9\n\t"                                                                                 \
    "smlad r10, r12, r6, r10\n\t"                                                                               \
    "smlad r11, r12, r7, r11\n\t"
#define EFM_HA_SV8_FIRST                                                                                         \
    "smuad r8, r3, r4\n\t"                                                                                      \
    "smuad r9, r3, r5\n\t"                                                                                      \
    "smuad r10, r3, r6\n\t"                                                                                     \
    "smuad r11, r3, r7\n\t"
#define EFM_HA_SV8_NEXT                                                                                          \
    "smlad r8, r3, r4, r8\n\t"                                                                                  \
    "smlad r9, r3, r5, r9\n\t"                                                                                  \
    "smlad r10, r3, r6, r10\n\t"                                                                                \
    "smlad r11, r3, r7, r11\n\t"
#define EFM_HA_SV8_OUT(R)                                                                                        \
    "lsl " R ", " R ", r3\n\t"                                                                                  \
    "smmulr " R ", " R ", r4\n\t"                                                                               \
    "smmla " R ", " R ", r5, r6\n\t"                                                                            \
    "asr " R ", " R ", r7\n\t"                                                                                  \
    "ssat " R ", #8, " R "\n\t"                                                                                 \
    "strb " R ", [r12], #1\n\t"
__attribute__((noinline)) static void efm_ha_sv8(const uint32_t *sw, const uint32_t *vt, int32_t blocks) {
    register const uint32_t *base __asm__("r0") = sw;
    register const uint32_t *vp __asm__("r1") = vt;
    register int32_t nb __asm__("r2") = blocks;
    __asm__ volatile("1:\n\t" EFM_HA_SV8_PAIR("0", EFM_HA_SV8_FIRST) EFM_HA_SV8_PAIR("8", EFM_HA_SV8_NEXT)
                         EFM_HA_SV8_PAIR("16", EFM_HA_SV8_NEXT) EFM_HA_SV8_PAIR("24", EFM_HA_SV8_NEXT)
                     "ldmdb r0, {r3, r4, r5, r6, r7, r12}\n\t" EFM_HA_SV8_OUT("r8") EFM_HA_SV8_OUT("r9")
                         EFM_HA_SV8_OUT("r10") EFM_HA_SV8_OUT("r11")
                     "str r12, [r0, #-4]\n\t"
                     "subs r2, r2, #1\n\t"
                     "bne 1b\n\t"
                     : "+r"(base), "+r"(vp), "+r"(nb)
                     :
                     : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
}
#undef EFM_HA_SV8_PAIR
#undef EFM_HA_SV8_FIRST
#undef EFM_HA_SV8_NEXT
#undef EFM_HA_SV8_OUT

/* sw[0 .. pairs) = the similarity pairs popcount(q xor kw) (kw: the complemented key codes, two per word), their
 * sum returned: per pair one EOR, the SWAR popcount of both 16-bit lanes (8 instructions, the masks in registers)
 * and one ADD; an odd count takes one pair first (LDR, STR), then two per iteration (LDRD, STRD). */
#define EFM_HA_POP(X)                                                                                            \
    "eor " X ", " X ", %[qq]\n\t"                                                                               \
    "and %[t], %[c55], " X ", lsr #1\n\t"                                                                       \
    "sub " X ", " X ", %[t]\n\t"                                                                                \
    "and %[t], %[c33], " X ", lsr #2\n\t"                                                                       \
    "and " X ", " X ", %[c33]\n\t"                                                                              \
    "add " X ", " X ", %[t]\n\t"                                                                                \
    "add " X ", " X ", " X ", lsr #4\n\t"                                                                       \
    "and " X ", " X ", %[c0f]\n\t"                                                                              \
    "add " X ", " X ", " X ", lsr #8\n\t"                                                                       \
    "uxtb16 " X ", " X "\n\t"                                                                                   \
    "add %[tot], %[tot], " X "\n\t"
static inline uint32_t efm_ha_sims(const uint32_t *kw, uint32_t qq, int32_t pairs, uint32_t *sw) {
    uint32_t tot = 0, x, y, t;
    const uint32_t c55 = 0x55555555u, c33 = 0x33333333u, c0f = 0x0F0F0F0Fu;
    __asm__ volatile("lsrs %[n], %[n], #1\n\t"
                     "bcc 2f\n\t"
                     "ldr %[x], [%[kw]], #4\n\t" EFM_HA_POP("%[x]") "str %[x], [%[sw]], #4\n\t"
                     "2:\n\t"
                     "beq 3f\n\t" /* Z from LSRS: no pair left */
                     "1:\n\t"
                     "ldrd %[x], %[y], [%[kw]], #8\n\t" EFM_HA_POP("%[x]") EFM_HA_POP("%[y]")
                     "strd %[x], %[y], [%[sw]], #8\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     "3:\n\t"
                     : [kw] "+r"(kw), [sw] "+r"(sw), [n] "+r"(pairs), [tot] "+r"(tot), [x] "=&r"(x), [y] "=&r"(y),
                       [t] "=&r"(t)
                     : [qq] "r"(qq), [c55] "r"(c55), [c33] "r"(c33), [c0f] "r"(c0f)
                     : "cc", "memory");
    return tot;
}
#undef EFM_HA_POP

static inline uint32_t efm_ha_pkhbt(uint32_t lo, uint32_t hi) { /* (lo & 0xFFFF) | (hi << 16) */
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

static inline uint32_t efm_ha_pkhtb(uint32_t lo, uint32_t hi) { /* (lo >> 16) | (hi & 0xFFFF0000) */
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

/* o[0..4) = the centred values of two keys' words w0, w1 (four columns each) as int16 pairs (key 0, key 1) per
 * column. */
static inline __attribute__((always_inline)) void efm_ha_pack(uint32_t *o, uint32_t w0, uint32_t w1, uint32_t zp2) {
    const uint32_t a02 = efm_ssub16(efm_sxtb16(w0), zp2), a13 = efm_ssub16(efm_sxtb16_ror8(w0), zp2);
    const uint32_t b02 = efm_ssub16(efm_sxtb16(w1), zp2), b13 = efm_ssub16(efm_sxtb16_ror8(w1), zp2);
    o[0] = efm_ha_pkhbt(a02, b02);
    o[1] = efm_ha_pkhbt(a13, b13);
    o[2] = efm_ha_pkhtb(a02, b02);
    o[3] = efm_ha_pkhtb(a13, b13);
}

/* EFM_HA_FORM_POPCOUNT (code bytes <= 2, depth a multiple of 4): num_i = sum_j s_ij (v_j - zp_v) with
 * s_ij = b - popcount(q_i xor k_j) = popcount(q_i xor ~k_j) over the b bits, two keys per 32-bit word (the XOR and
 * the SWAR popcount per 16-bit lane give a similarity pair SMLAD takes); the centred values are rearranged once per
 * batch index into int16 pairs of two keys per column, four columns per block, the pairs padded to an even count
 * (the padding's similarities and values 0). Scratch: P (d + 2) + d + 6 words, P = 2 ceil(Nk / 4). */
static void efm_ha_popcount(const efm_hash_attention_params *p, const uint8_t *hq, const uint8_t *hk,
                            const int8_t *v, int8_t *y, int32_t *scratch) {
    const int32_t d = p->depth, nk = p->n_keys, nq = p->n_queries, cb = p->code_bytes, nb = p->bits;
    const int32_t pairs = (nk + 1) >> 1, pe = (pairs + 1) & ~1, blocks = d >> 2;
    const uint32_t valid = nb >= 32 ? 0xFFFFFFFFu : (1u << nb) - 1u;
    const uint32_t zp2 = ((uint32_t)p->v_zp & 0xFFFFu) * 0x00010001u, zp4 = ((uint32_t)p->v_zp & 0xFFu) * 0x01010101u;
    uint32_t *vt = (uint32_t *)scratch;          /* [blocks][pe][4] */
    uint32_t *kw = vt + (ptrdiff_t)blocks * pe * 4; /* [pe] two complemented key codes */
    uint32_t *sw = kw + pe + 6; /* [pe] two similarities, after the six state words of efm_ha_sv / efm_ha_sv8 */
    int32_t *num = (int32_t *)sw + pe;           /* [d] one query's sums */
    sw[pe - 1] = 0;                              /* the padding pair (if any) is never written again */
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *vb = efm_ha_vbase(p, v, b);
        int8_t *yb = efm_ha_ybase(p, y, b);
        const int32_t vrow = p->v_row, yrow = p->y_row;
        const uint8_t *kb = hk + (ptrdiff_t)b * nk * cb;
        for (int32_t pr = 0; pr < pe; pr++) {
            const int32_t j0 = 2 * pr, j1 = j0 + 1;
            uint32_t *o = vt + (ptrdiff_t)pr * 4;
            if (j0 >= nk) { /* the padding pair */
                for (int32_t blk = 0; blk < blocks; blk++, o += 4 * pe) {
                    o[0] = o[1] = o[2] = o[3] = 0;
                }
                continue;
            }
            kw[pr] = (~efm_ha_code(p, kb + j0 * cb, valid) & valid) |
                     (j1 < nk ? (~efm_ha_code(p, kb + j1 * cb, valid) & valid) << 16 : 0);
            const int8_t *r0 = vb + (ptrdiff_t)j0 * vrow, *r1 = r0 + vrow;
            if (j1 < nk) {
                for (int32_t blk = 0; blk < blocks; blk++, o += 4 * pe) {
                    efm_ha_pack(o, efm_load4(r0 + 4 * blk), efm_load4(r1 + 4 * blk), zp2);
                }
            } else { /* a missing second key reads the zero point: its centred values are 0 */
                for (int32_t blk = 0; blk < blocks; blk++, o += 4 * pe) {
                    efm_ha_pack(o, efm_load4(r0 + 4 * blk), zp4, zp2);
                }
            }
        }
        for (int32_t i = 0; i < nq; i++) {
            const uint32_t q = efm_ha_code(p, hq + ((ptrdiff_t)b * nq + i) * cb, valid);
            uint32_t tot = efm_ha_sims(kw, q | (q << 16), pairs, sw);
            if (nk & 1) { /* the missing second key of the last pair has similarity 0 */
                tot -= sw[pairs - 1] & 0xFFFF0000u;
                sw[pairs - 1] &= 0x0000FFFFu;
            }
            const int32_t den = (int32_t)((tot & 0xFFFFu) + (tot >> 16));
            const efm_ha_norm qn = efm_ha_norm_of(p, den);
            int8_t *yi = yb + (ptrdiff_t)i * yrow;
            if (pe == 8 && qn.rshift == 0 && qn.out_rshift > 0) {
                sw[-6] = (uint32_t)qn.lshift;
                sw[-5] = (uint32_t)qn.recip;
                sw[-4] = (uint32_t)qn.mult;
                sw[-3] = (uint32_t)qn.round;
                sw[-2] = (uint32_t)qn.out_rshift;
                sw[-1] = (uint32_t)(uintptr_t)yi;
                efm_ha_sv8(sw, vt, blocks);
                continue;
            }
            sw[-3] = (uint32_t)(pe >> 1);
            sw[-2] = (uint32_t)(uintptr_t)num;
            sw[-1] = (uint32_t)blocks;
            efm_ha_sv(sw, vt);
            if (qn.rshift == 0 && qn.out_rshift > 0) {
                const int32_t ls = qn.lshift, r = qn.recip, m = qn.mult, rd = qn.round, rs = qn.out_rshift;
                for (int32_t c = 0; c < d; c += 4) {
                    const int32_t *a = num + c;
                    const int32_t y0 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[0] << ls), r), m, rd) >> rs);
                    const int32_t y1 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[1] << ls), r), m, rd) >> rs);
                    const int32_t y2 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[2] << ls), r), m, rd) >> rs);
                    const int32_t y3 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[3] << ls), r), m, rd) >> rs);
                    yi[c] = (int8_t)y0;
                    yi[c + 1] = (int8_t)y1;
                    yi[c + 2] = (int8_t)y2;
                    yi[c + 3] = (int8_t)y3;
                }
            } else {
                for (int32_t c = 0; c < d; c++) {
                    yi[c] = efm_ha_out(&qn, num[c]);
                }
            }
        }
    }
}

/* r (int16 pairs: columns (4k, 4k + 2), (4k + 1, 4k + 3)) += the int8 row v, `blocks` blocks of four: per block one
 * LDR, one LDRD, two SXTAB16 and one STRD. */
static inline void efm_ha_add16(uint32_t *r, const int8_t *v, int32_t blocks) {
    uint32_t w, r0, r1;
    __asm__ volatile("1:\n\t"
                     "ldr %[w], [%[v]], #4\n\t"
                     "ldrd %[r0], %[r1], [%[r]]\n\t"
                     "sxtab16 %[r0], %[r0], %[w]\n\t"
                     "sxtab16 %[r1], %[r1], %[w], ror #8\n\t"
                     "strd %[r0], %[r1], [%[r]], #8\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [r] "+r"(r), [v] "+r"(v), [n] "+r"(blocks), [w] "=&r"(w), [r0] "=&r"(r0), [r1] "=&r"(r1)
                     :
                     : "cc", "memory");
}

/* r[0..8) (int16 pairs of a 16-column row: columns (4k, 4k + 2), (4k + 1, 4k + 3)) += the row's four words:
 * per word one LDRD, two SXTAB16 and one STRD. */
static inline __attribute__((always_inline)) void efm_ha_add16x4(uint32_t *r, uint32_t w0, uint32_t w1, uint32_t w2,
                                                                 uint32_t w3) {
    uint32_t t0, t1;
#define EFM_HA_ADDW(W, OFF)                                                                                      \
    "ldrd %[t0], %[t1], [%[r], #" OFF "]\n\t"                                                                  \
    "sxtab16 %[t0], %[t0], %[" W "]\n\t"                                                                       \
    "sxtab16 %[t1], %[t1], %[" W "], ror #8\n\t"                                                               \
    "strd %[t0], %[t1], [%[r], #" OFF "]\n\t"
    __asm__ volatile(EFM_HA_ADDW("w0", "0") EFM_HA_ADDW("w1", "8") EFM_HA_ADDW("w2", "16") EFM_HA_ADDW("w3", "24")
                     : [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [r] "r"(r), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2), [w3] "r"(w3)
                     : "memory");
#undef EFM_HA_ADDW
}

/* The pattern of pair g (bits 2g, 2g + 1; the last pair of an odd bit count has one bit) of a packed code. */
static inline int32_t efm_ha_pattern(const uint8_t *c, int32_t g, int32_t full) {
    return (c[g >> 2] >> (2 * (g & 3))) & (g < full ? 3 : 1);
}

/* EFM_HA_FORM_PAIRS (bits / 2 rounded up <= EFM_HA_CHUNK): per pair g of code bits (2g, 2g + 1) the raw value rows
 * summed into the 4 buckets B_g[pattern] of the keys' pattern, with counts; a query with pattern m of pair g has
 * similarity sum T_g[m] = sum_p (2 - popcount(m xor p)) B_g[p] = V + (B_0 - B_3) for m = 0, V - (B_0 - B_3) for 3,
 * V + (B_1 - B_2) for 1, V - (B_1 - B_2) for 2 (V the sum of all values), so num = G V + one signed bucket
 * difference per pair (the row lists of efm_ha_block), den likewise from the counts; a last single bit adds its
 * bucket B_m. Then num - zp_v den. With at most 127 keys and a depth that is a multiple of 4 the buckets are int16
 * pairs (SXTAB16 adds two value bytes per instruction: |sum| <= 128 Nk < 2^15), else int32 rows (SXTAB).
 * Scratch: 6 G d + 4 G + d words. */
static void efm_ha_pairs(const efm_hash_attention_params *p, const uint8_t *hq, const uint8_t *hk, const int8_t *v,
                         int8_t *y, int32_t *scratch) {
    const int32_t d = p->depth, nk = p->n_keys, nq = p->n_queries, cb = p->code_bytes, nb = p->bits;
    const int32_t groups = (nb + 1) >> 1, full = nb >> 1; /* pairs; those with two bits */
    const int pairs16 = nk <= 127 && (d & 3) == 0;
    int32_t *dr = scratch;                          /* [groups][4][d]: the signed row of each pattern */
    int32_t *cnt = dr + (ptrdiff_t)groups * 4 * d;  /* [groups][4]: bucket counts, then the den term of each pattern */
    int32_t *vsum = cnt + groups * 4;                     /* [d] */
    int32_t *bk = vsum + d;                               /* [groups][4][d] int32, or [groups][4][d / 2] pairs */
    const int32_t rw = pairs16 ? d >> 1 : d;              /* words per bucket row */
    const int32_t *list[EFM_HA_CHUNK];
    uint32_t *rows[EFM_HA_CHUNK];
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *vb = efm_ha_vbase(p, v, b);
        int8_t *yb = efm_ha_ybase(p, y, b);
        const int32_t vrow = p->v_row, yrow = p->y_row;
        const uint8_t *kb = hk + (ptrdiff_t)b * nk * cb;
        for (int32_t i = 0; i < groups * 4; i++) {
            cnt[i] = 0;
        }
        for (int32_t i = 0; i < groups * 4 * rw; i++) {
            bk[i] = 0;
        }
        for (int32_t j = 0; j < nk; j++) {
            const uint8_t *c = kb + j * cb;
            const int8_t *vj = vb + (ptrdiff_t)j * vrow;
            if (pairs16) {
                int32_t *base = bk, *cg = cnt;
                uint32_t cw = 0; /* the code bits, 16 at a time */
                for (int32_t g = 0; g < full; g++, cw >>= 2, base += 4 * rw, cg += 4) {
                    if ((g & 7) == 0) {
                        cw = c[g >> 2] | (g + 4 < groups ? (uint32_t)c[(g >> 2) + 1] << 8 : 0u);
                    }
                    const uint32_t pat = cw & 3u;
                    cg[pat]++;
                    efm_ha_add16((uint32_t *)(base + pat * rw), vj, d >> 2);
                }
                if (full < groups) { /* the last, single bit */
                    const uint32_t pat = (uint32_t)(c[full >> 2] >> (2 * (full & 3))) & 1u;
                    cg[pat]++;
                    efm_ha_add16((uint32_t *)(base + pat * rw), vj, d >> 2);
                }
            } else {
                for (int32_t g = 0; g < groups; g++) {
                    const int32_t row = 4 * g + efm_ha_pattern(c, g, full);
                    rows[g] = (uint32_t *)(bk + (ptrdiff_t)row * rw);
                    cnt[row]++;
                }
                for (int32_t g = 0; g < groups; g++) {
                    efm_ha_add_row((int32_t *)rows[g], vj, d);
                }
            }
        }
        /* bucket (g, pattern) column c as int32: int16 pairs hold columns (4k, 4k + 2) and (4k + 1, 4k + 3) */
#define EFM_HA_B(g, pt, c)                                                                                        \
    (pairs16 ? (int32_t)(int16_t)(((const uint32_t *)bk)[((ptrdiff_t)(4 * (g) + (pt))) * rw + 2 * ((c) >> 2) +        \
                                                          ((c) & 1)] >> (16 * (((c) >> 1) & 1)))                    \
             : bk[((ptrdiff_t)(4 * (g) + (pt))) * rw + (c)])
        for (int32_t c = 0; c < d; c++) { /* V: the sum of the first pair's buckets */
            int32_t s = 0;
            for (int32_t pt = 0; pt < (full > 0 ? 4 : 2); pt++) {
                s += EFM_HA_B(0, pt, c);
            }
            vsum[c] = s;
        }
        for (int32_t g = 0; g < groups; g++) {
            /* pattern 0: +(B_0 - B_3), 1: +(B_1 - B_2), 2: -(B_1 - B_2), 3: -(B_0 - B_3); a single bit: B_0, B_1 */
            int32_t *r0 = dr + (ptrdiff_t)4 * g * d, *r1 = r0 + d, *r2 = r1 + d, *r3 = r2 + d;
            if (pairs16 && g < full) { /* two columns per word, widened before the difference */
                const uint32_t *b0 = (const uint32_t *)bk + (ptrdiff_t)4 * g * rw, *b1 = b0 + rw, *b2 = b1 + rw,
                               *b3 = b2 + rw;
                for (int32_t w = 0; w < rw; w++) {
                    const int32_t c = 4 * (w >> 1) + (w & 1);
                    const int32_t e0 = (int32_t)(int16_t)b0[w] - (int32_t)(int16_t)b3[w];
                    const int32_t e2 = ((int32_t)b0[w] >> 16) - ((int32_t)b3[w] >> 16);
                    const int32_t f0 = (int32_t)(int16_t)b1[w] - (int32_t)(int16_t)b2[w];
                    const int32_t f2 = ((int32_t)b1[w] >> 16) - ((int32_t)b2[w] >> 16);
                    r0[c] = e0;
                    r0[c + 2] = e2;
                    r3[c] = -e0;
                    r3[c + 2] = -e2;
                    r1[c] = f0;
                    r1[c + 2] = f2;
                    r2[c] = -f0;
                    r2[c + 2] = -f2;
                }
            } else {
                for (int32_t c = 0; c < d; c++) {
                    if (g < full) {
                        const int32_t e = EFM_HA_B(g, 0, c) - EFM_HA_B(g, 3, c);
                        const int32_t f = EFM_HA_B(g, 1, c) - EFM_HA_B(g, 2, c);
                        r0[c] = e;
                        r1[c] = f;
                        r2[c] = -f;
                        r3[c] = -e;
                    } else {
                        r0[c] = EFM_HA_B(g, 0, c);
                        r1[c] = EFM_HA_B(g, 1, c);
                    }
                }
            }
            int32_t *cg = cnt + 4 * g;
            if (g < full) {
                const int32_t e = cg[0] - cg[3], f = cg[1] - cg[2];
                cg[0] = nk + e;
                cg[1] = nk + f;
                cg[2] = nk - f;
                cg[3] = nk - e;
            }
        }
#undef EFM_HA_B
        for (int32_t i = 0; i < nq; i++) {
            const uint8_t *c = hq + ((ptrdiff_t)b * nq + i) * cb;
            int32_t den = 0;
            const int32_t *base = dr, *cg = cnt;
            uint32_t cw = 0;
            for (int32_t g = 0; g < full; g++, cw >>= 2, base += 4 * d, cg += 4) {
                if ((g & 7) == 0) {
                    cw = c[g >> 2] | (g + 4 < groups ? (uint32_t)c[(g >> 2) + 1] << 8 : 0u);
                }
                const uint32_t pat = cw & 3u;
                list[g] = base + pat * d;
                den += cg[pat];
            }
            if (full < groups) {
                const uint32_t pat = (uint32_t)(c[full >> 2] >> (2 * (full & 3))) & 1u;
                list[full] = base + pat * d;
                den += cg[pat];
            }
            const efm_ha_norm qn = efm_ha_norm_of(p, den);
            efm_ha_query(list, groups, groups, vsum, full, d, &qn, p->v_zp * den, yb + (ptrdiff_t)i * yrow);
        }
    }
}

static inline uint32_t efm_ha_sadd16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

/* dst[k] = a[k] +- b[k] on int16 lanes (SADD16 / SSUB16), n words, four per LDM where n % 4 == 0. */
static void efm_ha_row16(uint32_t *dst, const uint32_t *a, const uint32_t *b, int32_t n, int sub) {
    if ((n & 3) == 0) {
        register uint32_t a0 __asm__("r4");
        register uint32_t a1 __asm__("r5");
        register uint32_t a2 __asm__("r6");
        register uint32_t a3 __asm__("r7");
        register uint32_t b0 __asm__("r8");
        register uint32_t b1 __asm__("r9");
        register uint32_t b2 __asm__("r10");
        register uint32_t b3 __asm__("r11");
        int32_t blocks = n >> 2;
#define EFM_HA_ROW16(OP)                                                                                         \
    __asm__ volatile("1:\n\t"                                                                                    \
                     "ldmia %[a]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"                                              \
                     "ldmia %[b]!, {%[b0], %[b1], %[b2], %[b3]}\n\t" OP " %[a0], %[a0], %[b0]\n\t" OP                 \
                     " %[a1], %[a1], %[b1]\n\t" OP " %[a2], %[a2], %[b2]\n\t" OP " %[a3], %[a3], %[b3]\n\t"          \
                     "stmia %[d]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"                                              \
                     "subs %[n], %[n], #1\n\t"                                                                   \
                     "bne 1b\n\t"                                                                                \
                     : [a] "+r"(a), [b] "+r"(b), [d] "+r"(dst), [n] "+r"(blocks), [a0] "=&r"(a0), [a1] "=&r"(a1), \
                       [a2] "=&r"(a2), [a3] "=&r"(a3), [b0] "=&r"(b0), [b1] "=&r"(b1), [b2] "=&r"(b2),            \
                       [b3] "=&r"(b3)                                                                            \
                     :                                                                                           \
                     : "cc", "memory")
        if (sub) {
            EFM_HA_ROW16("ssub16");
        } else {
            EFM_HA_ROW16("sadd16");
        }
#undef EFM_HA_ROW16
        return;
    }
    for (int32_t k = 0; k < n; k++) {
        dst[k] = sub ? efm_ssub16(a[k], b[k]) : efm_ha_sadd16(a[k], b[k]);
    }
}

/* EFM_HA_FORM_NIBBLES (keys <= 64, depth a multiple of 4): per nibble g of code bits (4g .. 4g + 3; the last may be
 * narrower, w bits) the raw value rows summed into the 2^w buckets B_g[pattern] of the keys' pattern (int16 pairs,
 * SXTAB16), then in place the table T_g[m] = sum_p (w - popcount(m xor p)) B_g[p] = sum_t (m_t ? P_t : V - P_t)
 * (P_t: the buckets with bit t set, V all of them): T_g[0] = sum_t (V - P_t), then in Gray-code order one signed
 * addition of E_t = 2 P_t - V per entry (|T| <= 4 * 128 * 64 fits int16). A query adds one table row per nibble
 * (SXTAH into int32) and the den table entries, then num - zp_v den and the normalization.
 * Scratch: (16 G + 5) d / 2 + 16 G words. */
static void efm_ha_nibbles(const efm_hash_attention_params *p, const uint8_t *hq, const uint8_t *hk,
                           const int8_t *v, int8_t *y, int32_t *scratch) {
    const int32_t d = p->depth, nk = p->n_keys, nq = p->n_queries, cb = p->code_bytes, nb = p->bits;
    const int32_t groups = (nb + 3) >> 2, rw = d >> 1, blocks = d >> 2;
    uint32_t *bt = (uint32_t *)scratch;                 /* [groups][16][rw]: buckets, then tables */
    uint32_t *pt = bt + (ptrdiff_t)groups * 16 * rw;    /* [4][rw]: P_t, then E_t */
    uint32_t *vv = pt + 4 * rw;                         /* [rw]: V */
    int32_t *cnt = (int32_t *)(vv + rw);                /* [groups][16]: counts, then den terms */
    int32_t *num = cnt + groups * 16;                   /* [d]: 13..16 bits, one query's four-row sums */
    const uint32_t *rows[EFM_HA_CHUNK];
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *vb = efm_ha_vbase(p, v, b);
        int8_t *yb = efm_ha_ybase(p, y, b);
        const int32_t vrow = p->v_row, yrow = p->y_row;
        const uint8_t *kb = hk + (ptrdiff_t)b * nk * cb;
        for (int32_t i = 0; i < groups * 16 * rw; i++) {
            bt[i] = 0;
        }
        for (int32_t i = 0; i < groups * 16; i++) {
            cnt[i] = 0;
        }
        if (groups == 4 && blocks == 4) { /* 13..16 bits, depth 16: the key's row in registers, one halfword code */
            const uint32_t lastmask = (2u << ((nb - 1) & 3)) - 1u;
            for (int32_t j = 0; j < nk; j++) {
                const int8_t *vj = vb + (ptrdiff_t)j * vrow;
                uint16_t h;
                __builtin_memcpy(&h, kb + j * cb, 2);
                const uint32_t code = h;
                const uint32_t w0 = efm_load4(vj), w1 = efm_load4(vj + 4), w2 = efm_load4(vj + 8),
                               w3 = efm_load4(vj + 12);
                const uint32_t p0 = code & 15u, p1 = 16u + ((code >> 4) & 15u), p2 = 32u + ((code >> 8) & 15u),
                               p3 = 48u + ((code >> 12) & lastmask);
                cnt[p0]++;
                cnt[p1]++;
                cnt[p2]++;
                cnt[p3]++;
                efm_ha_add16x4(bt + p0 * 8, w0, w1, w2, w3);
                efm_ha_add16x4(bt + p1 * 8, w0, w1, w2, w3);
                efm_ha_add16x4(bt + p2 * 8, w0, w1, w2, w3);
                efm_ha_add16x4(bt + p3 * 8, w0, w1, w2, w3);
            }
        }
        for (int32_t j = 0; j < (groups == 4 && blocks == 4 ? 0 : nk); j++) {
            const uint8_t *c = kb + j * cb;
            const int8_t *vj = vb + (ptrdiff_t)j * vrow;
            uint32_t *base = bt;
            int32_t *cg = cnt;
            for (int32_t g = 0; g < groups; g++, base += 16 * rw, cg += 16) {
                const uint32_t pat = (uint32_t)(c[g >> 1] >> (4 * (g & 1))) & 15u &
                                     (g == groups - 1 ? (2u << ((nb - 1) & 3)) - 1u : 15u);
                cg[pat]++;
                efm_ha_add16(base + pat * rw, vj, blocks);
            }
        }
        for (int32_t g = 0; g < groups; g++) {
            const int32_t w = g == groups - 1 ? nb - 4 * g : 4, n = 1 << w;
            uint32_t *tb = bt + (ptrdiff_t)g * 16 * rw;
            int32_t *cg = cnt + 16 * g;
            int32_t pc[4], ec[4];
            for (int32_t t = 0; t < w; t++) { /* P_t: the first bucket with bit t copied, the others added */
                uint32_t *pr = pt + t * rw;
                const uint32_t *first = tb + (1 << t) * rw;
                for (int32_t k = 0; k < rw; k++) {
                    pr[k] = first[k];
                }
                pc[t] = cg[1 << t];
                for (int32_t m = ((1 << t) + 1) | (1 << t); m < n; m = (m + 1) | (1 << t)) {
                    efm_ha_row16(pr, pr, tb + m * rw, rw, 0);
                    pc[t] += cg[m];
                }
            }
            if (g == 0) { /* V, the same for every nibble */
                for (int32_t k = 0; k < rw; k++) {
                    uint32_t s = 0;
                    for (int32_t m = 0; m < n; m++) {
                        s = efm_ha_sadd16(s, tb[m * rw + k]);
                    }
                    vv[k] = s;
                }
            }
            /* T[0] = sum_t (V - P_t); E_t = 2 P_t - V (in place of P_t) */
            int32_t t0 = 0;
            for (int32_t k = 0; k < rw; k++) {
                uint32_t s = 0;
                for (int32_t t = 0; t < w; t++) {
                    s = efm_ha_sadd16(s, efm_ssub16(vv[k], pt[t * rw + k]));
                    pt[t * rw + k] = efm_ssub16(efm_ha_sadd16(pt[t * rw + k], pt[t * rw + k]), vv[k]);
                }
                tb[k] = s;
            }
            for (int32_t t = 0; t < w; t++) {
                t0 += nk - pc[t];
                ec[t] = 2 * pc[t] - nk;
            }
            cg[0] = t0;
            int32_t prev = 0;
            for (int32_t i = 1; i < n; i++) { /* Gray-code order: one bit flips per entry */
                const int32_t gi = i ^ (i >> 1), t = __builtin_ctz((uint32_t)i);
                const uint32_t *src = tb + prev * rw, *e = pt + t * rw;
                uint32_t *dst = tb + gi * rw;
                const int up = (gi >> t) & 1;
                efm_ha_row16(dst, src, e, rw, !up);
                cg[gi] = up ? cg[prev] + ec[t] : cg[prev] - ec[t];
                prev = gi;
            }
        }
        const uint32_t lastmask = (2u << ((nb - 1) & 3)) - 1u;
        for (int32_t i = 0; i < nq; i++) {
            const uint8_t *c = hq + ((ptrdiff_t)b * nq + i) * cb;
            int32_t den = 0;
            if (groups == 4) { /* 13..16 bits: one halfword, four nibbles */
                uint16_t h;
                __builtin_memcpy(&h, c, 2);
                const uint32_t code = h;
                const uint32_t p0 = code & 15u, p1 = (code >> 4) & 15u, p2 = (code >> 8) & 15u,
                               p3 = (code >> 12) & lastmask;
                rows[0] = bt + (ptrdiff_t)p0 * rw;
                rows[1] = bt + (ptrdiff_t)(16 + p1) * rw;
                rows[2] = bt + (ptrdiff_t)(32 + p2) * rw;
                rows[3] = bt + (ptrdiff_t)(48 + p3) * rw;
                den = cnt[p0] + cnt[16 + p1] + cnt[32 + p2] + cnt[48 + p3];
            } else {
                for (int32_t g = 0; g < groups; g++) {
                    const uint32_t pat = (uint32_t)(c[g >> 1] >> (4 * (g & 1))) & 15u &
                                         (g == groups - 1 ? lastmask : 15u);
                    rows[g] = bt + ((ptrdiff_t)g * 16 + pat) * rw;
                    den += cnt[16 * g + pat];
                }
            }
            const efm_ha_norm qn = efm_ha_norm_of(p, den);
            const int32_t bias = p->v_zp * den;
            const int fast = qn.rshift == 0 && qn.out_rshift > 0;
            const int32_t ls = qn.lshift, r = qn.recip, m = qn.mult, rd = qn.round, rs = qn.out_rshift;
            int8_t *yi = yb + (ptrdiff_t)i * yrow;
            if (groups == 4 && fast) { /* 13..16 bits: the sums of the four rows first, then the outputs */
                const uint32_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
                int32_t *np = num, words = rw;
                const int32_t nbias = -bias;
                uint32_t x0, x1, lo, hi;
                __asm__ volatile("1:\n\t"
                                 "ldr %[x0], [%[r0]], #4\n\t"
                                 "ldr %[x1], [%[r1]], #4\n\t"
                                 "sxtah %[lo], %[nb], %[x0]\n\t"
                                 "add %[hi], %[nb], %[x0], asr #16\n\t"
                                 "sxtah %[lo], %[lo], %[x1]\n\t"
                                 "add %[hi], %[hi], %[x1], asr #16\n\t"
                                 "ldr %[x0], [%[r2]], #4\n\t"
                                 "ldr %[x1], [%[r3]], #4\n\t"
                                 "sxtah %[lo], %[lo], %[x0]\n\t"
                                 "add %[hi], %[hi], %[x0], asr #16\n\t"
                                 "sxtah %[lo], %[lo], %[x1]\n\t"
                                 "add %[hi], %[hi], %[x1], asr #16\n\t"
                                 "strd %[lo], %[hi], [%[np]], #8\n\t"
                                 "subs %[n], %[n], #1\n\t"
                                 "bne 1b\n\t"
                                 : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3), [np] "+r"(np),
                                   [n] "+r"(words), [x0] "=&r"(x0), [x1] "=&r"(x1), [lo] "=&r"(lo), [hi] "=&r"(hi)
                                 : [nb] "r"(nbias)
                                 : "cc", "memory");
                /* num holds per word (column 4k + (k & 1), column + 2) - bias: per block of four columns
                 * num[4j .. 4j + 3] = columns 4j, 4j + 2, 4j + 1, 4j + 3 */
                for (int32_t k = 0; k < rw; k += 2, yi += 4) {
                    const int32_t *a = num + 2 * k;
                    const int32_t y0 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[0] << ls), r), m, rd) >> rs);
                    const int32_t y2 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[1] << ls), r), m, rd) >> rs);
                    const int32_t y1 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[2] << ls), r), m, rd) >> rs);
                    const int32_t y3 = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)a[3] << ls), r), m, rd) >> rs);
                    yi[0] = (int8_t)y0;
                    yi[1] = (int8_t)y1;
                    yi[2] = (int8_t)y2;
                    yi[3] = (int8_t)y3;
                }
                continue;
            }
            for (int32_t k = 0; k < rw; k++) {
                int32_t lo = -bias, hi = -bias;
                for (int32_t g = 0; g < groups; g++) {
                    const uint32_t x = rows[g][k];
                    lo += (int16_t)x;
                    hi += (int32_t)x >> 16;
                }
                const int32_t col = 4 * (k >> 1) + (k & 1);
                if (fast) {
                    yi[col] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)lo << ls), r), m, rd) >> rs);
                    yi[col + 2] = efm_ssat8(efm_smmla(efm_smmulr((int32_t)((uint32_t)hi << ls), r), m, rd) >> rs);
                } else {
                    yi[col] = efm_ha_out(&qn, lo);
                    yi[col + 2] = efm_ha_out(&qn, hi);
                }
            }
        }
    }
}

EFM_HA_ENTRY(efm_hash_attention_popcount) {
    efm_ha_popcount(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
}

EFM_HA_ENTRY(efm_hash_attention_pairs) {
    efm_ha_pairs(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
}

EFM_HA_ENTRY(efm_hash_attention_nibbles) {
    efm_ha_nibbles(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
}

/* Any codes (int8 or packed): the bits' value-row sums as lists, per query the sums of its set and clear bits. */
EFM_HA_ENTRY(efm_hash_attention_lists) {
    const int32_t d = p->depth, nb = p->bits, nk = p->n_keys, nq = p->n_queries, vzp = p->v_zp;
    int32_t *psum = scratch;       /* [bits][d] */
    int32_t *vsum = psum + nb * d; /* [d] */
    int32_t *ones = vsum + d;      /* [bits] */
    const int32_t *list[EFM_HA_CHUNK];
    for (int32_t b = 0; b < p->batch; b++) {
        const int32_t krow0 = b * nk, qrow0 = b * nq;
        const int8_t *vb = efm_ha_vbase(p, v, b);
        int8_t *yb = efm_ha_ybase(p, y, b);
        const int32_t vrow = p->v_row, yrow = p->y_row;
        for (int32_t i = 0; i < nb * d + d + nb; i++) {
            scratch[i] = 0;
        }
        for (int32_t j = 0; j < nk; j++) {
            const int8_t *vj = vb + (ptrdiff_t)j * vrow;
            efm_ha_add_row(vsum, vj, d);
            for (int32_t k0 = 0; k0 < nb; k0 += 32) {
                for (uint32_t m = efm_ha_mask(p, hk, krow0 + j, k0, p->k_zp); m != 0; m &= m - 1) {
                    const int32_t k = k0 + __builtin_ctz(m);
                    ones[k]++;
                    efm_ha_add_row(psum + k * d, vj, d);
                }
            }
        }
        for (int32_t k = 0; k < nb; k++) { /* centre: the values minus their zero point */
            const int32_t off = ones[k] * vzp;
            int32_t *pk = psum + k * d;
            for (int32_t c = 0; c < d; c++) {
                pk[c] -= off;
            }
        }
        for (int32_t c = 0; c < d; c++) {
            vsum[c] -= nk * vzp;
        }
        for (int32_t i = 0; i < nq; i++) {
            int8_t *yi = yb + (ptrdiff_t)i * yrow;
            int32_t den = 0, nclear = 0;
            for (int32_t k0 = 0; k0 < nb; k0 += EFM_HA_CHUNK) {
                const int32_t k1 = nb - k0 < EFM_HA_CHUNK ? nb : k0 + EFM_HA_CHUNK;
                nclear += k1 - k0 - efm_ha_lists(p, hq, qrow0 + i, k0, k1, psum, ones, list, &den);
            }
            const int32_t len = den > 0 ? 32 - __builtin_clz((uint32_t)den) : 0;
            const uint32_t recip = den > 0 ? efm_ha_recip((uint32_t)den, len) : 0;
            const efm_ha_norm nq_ = {(int32_t)recip, len <= 18 ? 18 - len : 0, len > 18 ? 1 << (len - 19) : 0,
                                     len > 18 ? len - 18 : 0, p->mult, p->shift, p->round, p->rshift,
                                     p->output_zp};
            if (nb <= EFM_HA_CHUNK) { /* the lists of all bits are built */
                efm_ha_query(list, nb - nclear, nb, vsum, nclear, d, &nq_, 0, yi);
                continue;
            }
            /* more bits than one pair of lists holds: per column, chunk by chunk (rebuilding the lists) */
            for (int32_t c = 0; c < d; c++) {
                int32_t acc = nclear * vsum[c], unused = 0;
                for (int32_t k0 = 0; k0 < nb; k0 += EFM_HA_CHUNK) {
                    const int32_t k1 = nb - k0 < EFM_HA_CHUNK ? nb : k0 + EFM_HA_CHUNK;
                    const int32_t ns = efm_ha_lists(p, hq, qrow0 + i, k0, k1, psum, ones, list, &unused);
                    for (int32_t k = 0; k < k1 - k0; k++) {
                        acc += k < ns ? list[k][c] : -list[k][c];
                    }
                }
                yi[c] = efm_ha_out(&nq_, acc);
            }
        }
    }
}


void efm_hash_attention(const efm_hash_attention_params *p, const void *hq, const void *hk, const int8_t *v,
                        int8_t *y, int32_t *scratch) {
    if (p->packed && p->form == EFM_HA_FORM_NIBBLES && p->n_keys <= 64 && (p->depth & 3) == 0 &&
        p->depth <= 2 * EFM_HA_MAX_WORDS &&
        (p->bits + 3) / 4 <= EFM_HA_CHUNK) {
        efm_ha_nibbles(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
        return;
    }
    if (p->packed && p->form == EFM_HA_FORM_POPCOUNT && p->code_bytes <= 2 && (p->depth & 3) == 0) {
        efm_ha_popcount(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
        return;
    }
    if (p->packed && p->form == EFM_HA_FORM_PAIRS && (p->bits + 1) / 2 <= EFM_HA_CHUNK) {
        efm_ha_pairs(p, (const uint8_t *)hq, (const uint8_t *)hk, v, y, scratch);
        return;
    }
    efm_hash_attention_lists(p, hq, hk, v, y, scratch);
}

#endif
