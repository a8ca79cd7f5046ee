/* HASH_ENCODE for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/hash_encode.c
 * (docs/ops/HASH_ENCODE.md), no multiplication in the anchor or projection products.
 *
 * Per token and head (d a multiple of 4, else the portable loop): the squared norm of x - zp four bytes per word
 * (SXTB16, SSUB16 of the zero point, SMLAD); the anchor sums four anchors at a time: per word of x one LDM of the
 * four anchors' XOR masks (0xFF bytes where the sign is -1, then XOR 0x80: ones' complement negation and the
 * signed-to-unsigned offset), four EOR and four USADA8 (the byte sums), so S_j = USADA8 sum + corr_j (the
 * emitter's constant: -128 d, the ones' complement 1s and the zero point); floor(sqrt(d Q 4^k)) by integer Newton
 * steps (UDIV) from above; per anchor idx = SMMULR(S_j 2^(k+1), R floor(2^31 / r)), the clamp and one LDRSH of the
 * feature table. The projection: per group of four anchors the 16 sums +-phi (subset sums, 15 additions), then per
 * code bit one lookup per group by the emitter's nibble of +1 signs, the offset compare and the bit set. */
#ifdef EFM_ARM_HASH_ENCODE

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "hash_encode.h"

/* One code bit from 8 anchors: LDM of {mask 0, mask 1, -threshold}, two USADA8 against the features f0 f1, the
 * sign to C, shifted into neg. */
#define EFM_HE_BIT8                                                                                              \
    "ldmia %[pm]!, {%[m0], %[m1], %[th]}\n\t"                                                                  \
    "usada8 %[th], %[f0], %[m0], %[th]\n\t"                                                                     \
    "usada8 %[th], %[f1], %[m1], %[th]\n\t"                                                                     \
    "adds %[th], %[th], %[th]\n\t"                                                                              \
    "adc %[neg], %[neg], %[neg]\n\t"

/* floor(sqrt(n)) for 2^30 <= n < 2^32: integer Newton steps from a start >= sqrt(n) (by AM-GM, n / 2a + a / 2 >=
 * sqrt(n) for a = 2^15 below 2^31 and a = 2^16 above, plus one for the floor); stops when a step no longer
 * decreases, which leaves the floor of the root. */
static inline uint32_t efm_he_root(uint32_t n) {
    uint32_t r = n < 0x80000000u ? (n >> 16) + 0x4001u : (n >> 17) + 0x8001u;
    for (;;) {
        const uint32_t s = (r + n / r) >> 1;
        if (s >= r) {
            return r;
        }
        r = s;
    }
}

/* floor(sqrt(n)) for 2^30 <= n < 2^32 with the FPU where there is one: the single-precision root (float(n) and
 * VSQRT each within half an ulp, 2^-9 at 2^15..2^16, so the truncation is the floor or one off) clamped to 65535
 * and corrected by one step either way; else efm_he_root. */
static inline uint32_t efm_he_root_fast(uint32_t n) {
#if defined(__ARM_FP) && (__ARM_FP & 4)
    float f = (float)n;
    __asm__("vsqrt.f32 %0, %1" : "=t"(f) : "t"(f));
    uint32_t r = (uint32_t)f;
    r = r > 65535u ? 65535u : r;
    const uint32_t sq = r * r;
    if (sq > n) {
        return r - 1;
    }
    return n - sq > 2 * r ? r + 1 : r;
#else
    return efm_he_root(n);
#endif
}

/* S_j (j = 4 g .. 4 g + 3) of one head's x words (each XOR 0x80808080: the bytes offset to unsigned): USADA8 of
 * them against the anchors' masks (0xFF bytes where the sign is -1: |x' - 255| = 255 - x'), four anchors per LDM of
 * masks, two words per LDRD (per pair of words one LDRD, two LDM and eight USADA8), the accumulators starting at
 * corr_j. An odd word count takes one word first. */
static inline __attribute__((always_inline)) void efm_he_sums4(const uint32_t *xv, int32_t words,
                                                               const uint32_t *mk, const int32_t *corr,
                                                               int32_t s[4]) {
    register uint32_t m0 __asm__("r4");
    register uint32_t m1 __asm__("r5");
    register uint32_t m2 __asm__("r6");
    register uint32_t m3 __asm__("r7");
    register uint32_t a0 __asm__("r8");
    register uint32_t a1 __asm__("r9");
    register uint32_t a2 __asm__("r10");
    register uint32_t a3 __asm__("r11");
    typedef struct {
        int32_t v[4];
    } efm_he_four;
    *(efm_he_four *)s = *(const efm_he_four *)corr; /* the accumulators start at corr_j and end in s */
    uint32_t v, w;
    int32_t pairs = words;
    __asm__ volatile("ldmia %[s], {%[a0], %[a1], %[a2], %[a3]}\n\t"
                     "lsrs %[p], %[p], #1\n\t"
                     "bcc 2f\n\t"
                     "ldr %[v], [%[xv]], #4\n\t"
                     "ldmia %[mk]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"
                     "usada8 %[a0], %[v], %[m0], %[a0]\n\t"
                     "usada8 %[a1], %[v], %[m1], %[a1]\n\t"
                     "usada8 %[a2], %[v], %[m2], %[a2]\n\t"
                     "usada8 %[a3], %[v], %[m3], %[a3]\n\t"
                     "2:\n\t"
                     "cmp %[p], #0\n\t"
                     "beq 3f\n\t"
                     "1:\n\t"
                     "ldrd %[v], %[w], [%[xv]], #8\n\t"
                     "ldmia %[mk]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"
                     "usada8 %[a0], %[v], %[m0], %[a0]\n\t"
                     "usada8 %[a1], %[v], %[m1], %[a1]\n\t"
                     "usada8 %[a2], %[v], %[m2], %[a2]\n\t"
                     "usada8 %[a3], %[v], %[m3], %[a3]\n\t"
                     "ldmia %[mk]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"
                     "usada8 %[a0], %[w], %[m0], %[a0]\n\t"
                     "usada8 %[a1], %[w], %[m1], %[a1]\n\t"
                     "usada8 %[a2], %[w], %[m2], %[a2]\n\t"
                     "usada8 %[a3], %[w], %[m3], %[a3]\n\t"
                     "subs %[p], %[p], #1\n\t"
                     "bne 1b\n\t"
                     "3:\n\t"
                     "stmia %[s], {%[a0], %[a1], %[a2], %[a3]}\n\t"
                     : [xv] "+r"(xv), [mk] "+r"(mk), [p] "+r"(pairs), [v] "=&r"(v), [w] "=&r"(w), [m0] "=&r"(m0),
                       [m1] "=&r"(m1), [m2] "=&r"(m2), [m3] "=&r"(m3), [a0] "=&r"(a0), [a1] "=&r"(a1),
                       [a2] "=&r"(a2), [a3] "=&r"(a3)
                     : [s] "r"(s)
                     : "cc", "memory");
}

/* S_0 .. S_7 of one head with d = 16 (four x words, two groups of four anchors), straight-line: per group one LDM of
 * corr, two LDRD of x, four LDM of masks, 16 USADA8 and one STM. */
#define EFM_HE_GROUP16                                                                                           \
    "ldmia %[c]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"                                                              \
    "ldrd %[v], %[w], [%[xv]]\n\t" EFM_HE_WORD("v") EFM_HE_WORD("w") "ldrd %[v], %[w], [%[xv], #8]\n\t"          \
    EFM_HE_WORD("v") EFM_HE_WORD("w") "stmia %[s]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"
#define EFM_HE_WORD(X)                                                                                           \
    "ldmia %[mk]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"                                                             \
    "usada8 %[a0], %[" X "], %[m0], %[a0]\n\t"                                                                   \
    "usada8 %[a1], %[" X "], %[m1], %[a1]\n\t"                                                                   \
    "usada8 %[a2], %[" X "], %[m2], %[a2]\n\t"                                                                   \
    "usada8 %[a3], %[" X "], %[m3], %[a3]\n\t"
static inline __attribute__((always_inline)) void efm_he_sums8x16(const uint32_t *xv, const uint32_t *mk,
                                                                  const int32_t *corr, int32_t *s) {
    register uint32_t m0 __asm__("r4");
    register uint32_t m1 __asm__("r5");
    register uint32_t m2 __asm__("r6");
    register uint32_t m3 __asm__("r7");
    register uint32_t a0 __asm__("r8");
    register uint32_t a1 __asm__("r9");
    register uint32_t a2 __asm__("r10");
    register uint32_t a3 __asm__("r11");
    uint32_t v, w;
    __asm__ volatile(EFM_HE_GROUP16 EFM_HE_GROUP16
                     : [mk] "+r"(mk), [c] "+r"(corr), [s] "+r"(s), [v] "=&r"(v), [w] "=&r"(w), [m0] "=&r"(m0),
                       [m1] "=&r"(m1), [m2] "=&r"(m2), [m3] "=&r"(m3), [a0] "=&r"(a0), [a1] "=&r"(a1),
                       [a2] "=&r"(a2), [a3] "=&r"(a3)
                     : [xv] "r"(xv)
                     : "memory");
}
#undef EFM_HE_WORD
#undef EFM_HE_GROUP16

/* The 16 signed sums of four features: sub[mask] = sum_t (bit t of mask ? +phi_t : -phi_t). */
static inline __attribute__((always_inline)) void efm_he_subsets(int32_t p0, int32_t p1, int32_t p2, int32_t p3,
                                                                 int32_t *sub) {
    const int32_t s0 = -(p0 + p1 + p2 + p3), d0 = 2 * p0, d1 = 2 * p1, d2 = 2 * p2, d3 = 2 * p3;
    const int32_t s1 = s0 + d0, s2 = s0 + d1, s3 = s1 + d1;
    const int32_t s4 = s0 + d2, s5 = s1 + d2, s6 = s2 + d2, s7 = s3 + d2;
    sub[0] = s0;
    sub[1] = s1;
    sub[2] = s2;
    sub[3] = s3;
    sub[4] = s4;
    sub[5] = s5;
    sub[6] = s6;
    sub[7] = s7;
    sub[8] = s0 + d3;
    sub[9] = s1 + d3;
    sub[10] = s2 + d3;
    sub[11] = s3 + d3;
    sub[12] = s4 + d3;
    sub[13] = s5 + d3;
    sub[14] = s6 + d3;
    sub[15] = s7 + d3;
}

/* A token's words (copied to xv), its squared norm Q about the zero point and the cosine scale
 * c = R floor(2^31 / r), r = floor(sqrt(d Q 4^k)), with sh = k + 1 (0 and 0 when Q = 0). */
static inline __attribute__((always_inline)) int32_t efm_he_norm(const int8_t *xs, int32_t words, int32_t d,
                                                                 uint32_t zp2, int32_t rad, uint32_t *xv,
                                                                 int32_t *sh) {
    int32_t q = 0;
    for (int32_t w = 0; w < words; w++) {
        const uint32_t v = efm_load4(xs + 4 * w);
        const uint32_t lo = efm_ssub16(efm_sxtb16(v), zp2), hi = efm_ssub16(efm_sxtb16_ror8(v), zp2);
        q = efm_smlad(lo, lo, efm_smlad(hi, hi, q));
        xv[w] = v ^ 0x80808080u; /* the bytes offset to unsigned for USADA8 */
    }
    int32_t c = 0;
    *sh = 0;
    if (q > 0) {
        const uint32_t dq = (uint32_t)d * (uint32_t)q;
        const int32_t k = __builtin_clz(dq) >> 1;
        *sh = k + 1;
        c = rad * (int32_t)(0x80000000u / efm_he_root(dq << (2 * k)));
    }
    return c;
}

/* One token of one head: the code bytes of x (d / 4 words) into out. */
static inline __attribute__((always_inline)) void efm_he_token(const int8_t *xs, int32_t words, int32_t d,
                                                               uint32_t zp2, int32_t rad, int32_t groups,
                                                               const uint32_t *mk, const int32_t *corr,
                                                               const int16_t *tab, int32_t m, int32_t nb,
                                                               const uint16_t *nib, const int32_t *off,
                                                               int32_t *sub, uint8_t *out) {
    uint32_t *xv = (uint32_t *)(sub + 16 * groups); /* the scratch: subset sums [16G], then x words [d/4] */
    int32_t sh;
    const int32_t c = efm_he_norm(xs, words, d, zp2, rad, xv, &sh);
    /* |S_j| 2^k <= sqrt(d Q 4^k) and is an integer, so |S_j| 2^k <= r and the index is within [-R, R]: the
     * definition's clamp never binds. Anchors beyond m (the last group's padding) have phi = 0. */
    for (int32_t g = 0; g < groups; g++, mk += 4 * words, corr += 4, sub += 16) {
        int32_t s[4];
        efm_he_sums4(xv, words, mk, corr, s);
        /* the last group's padding anchors repeat anchor 0 (the emitter's masks): a valid index, feature dropped */
        const int32_t p0 = tab[efm_smmulr((int32_t)((uint32_t)s[0] << sh), c)];
        const int32_t p1 = tab[efm_smmulr((int32_t)((uint32_t)s[1] << sh), c)];
        const int32_t p2 = tab[efm_smmulr((int32_t)((uint32_t)s[2] << sh), c)];
        const int32_t p3 = tab[efm_smmulr((int32_t)((uint32_t)s[3] << sh), c)];
        if (4 * g + 4 <= m) {
            efm_he_subsets(p0, p1, p2, p3, sub);
        } else {
            efm_he_subsets(p0, 4 * g + 1 < m ? p1 : 0, 4 * g + 2 < m ? p2 : 0, 0, sub);
        }
    }
    sub -= 16 * groups;
    /* bit k is set where sum over the groups of sub[16 g + nibble] - off_k >= 0: its sign bit, collected negated */
    int32_t k = 0;
#define EFM_HE_BIT2(e) neg |= ((uint32_t)(sub[nib[2 * (e)]] + sub[nib[2 * (e) + 1]] - off[e]) >> 31) << (e)
#define EFM_HE_BIT1(e) neg |= ((uint32_t)(sub[nib[e]] - off[e]) >> 31) << (e)
    if (groups == 2) {
        for (; k + 8 <= nb; k += 8, nib += 16, off += 8) {
            uint32_t neg = 0;
            EFM_HE_BIT2(0);
            EFM_HE_BIT2(1);
            EFM_HE_BIT2(2);
            EFM_HE_BIT2(3);
            EFM_HE_BIT2(4);
            EFM_HE_BIT2(5);
            EFM_HE_BIT2(6);
            EFM_HE_BIT2(7);
            *out++ = (uint8_t)~neg;
        }
    } else if (groups == 1) {
        for (; k + 8 <= nb; k += 8, nib += 8, off += 8) {
            uint32_t neg = 0;
            EFM_HE_BIT1(0);
            EFM_HE_BIT1(1);
            EFM_HE_BIT1(2);
            EFM_HE_BIT1(3);
            EFM_HE_BIT1(4);
            EFM_HE_BIT1(5);
            EFM_HE_BIT1(6);
            EFM_HE_BIT1(7);
            *out++ = (uint8_t)~neg;
        }
    }
#undef EFM_HE_BIT2
#undef EFM_HE_BIT1
    uint32_t neg = 0;
    for (int32_t e = 0; k < nb; k++, e++, off++) {
        int32_t pre = 0;
        for (int32_t g = 0; g < groups; g++) {
            pre += sub[*nib++];
        }
        neg |= ((uint32_t)(pre - *off) >> 31) << (e & 7);
        if ((e & 7) == 7 || k == nb - 1) {
            *out++ = (uint8_t)(~neg & ((2u << (e & 7)) - 1));
            neg = 0;
        }
    }
}

/* One token of one head with byte features (tables within 0..255): the features packed four per word, each code
 * bit one USADA8 per word of the features against the bit's sign masks (|f - 255| = 255 - f where the sign is -1),
 * accumulated onto minus its threshold (emitter's pmask): the sign of the sum is the negated bit. */
static inline __attribute__((always_inline)) void efm_he_token8(const int8_t *xs, int32_t words, int32_t d,
                                                                uint32_t zp2, int32_t rad, int32_t groups,
                                                                const uint32_t *mk, const int32_t *corr,
                                                                const int16_t *tab, int32_t m, int32_t nb,
                                                                const uint32_t *pm, int32_t *sums, uint8_t *out) {
    /* the scratch: sums [4G], x words [d/4], feature words [G] */
    uint32_t *xv = (uint32_t *)(sums + 4 * groups), *fw = xv + words;
    int32_t sh;
    const int32_t c = efm_he_norm(xs, words, d, zp2, rad, xv, &sh);
    if (words == 4 && groups == 2) { /* d = 16, 5..8 anchors */
        efm_he_sums8x16(xv, mk, corr, sums);
    } else {
        for (int32_t g = 0; g < groups; g++, mk += 4 * words, corr += 4) {
            efm_he_sums4(xv, words, mk, corr, sums + 4 * g);
        }
    }
    /* the features, four bytes per word: per anchor one shift, one SMMULR, one LDRSH and the byte insert */
    const int32_t *sp = sums;
    for (int32_t g = 0; g < groups; g++) {
        register uint32_t a0 __asm__("r4");
        register uint32_t a1 __asm__("r5");
        register uint32_t a2 __asm__("r6");
        register uint32_t a3 __asm__("r7");
        __asm__ volatile("ldmia %[sp]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"
                         "lsl %[a0], %[a0], %[sh]\n\t"
                         "lsl %[a1], %[a1], %[sh]\n\t"
                         "lsl %[a2], %[a2], %[sh]\n\t"
                         "lsl %[a3], %[a3], %[sh]\n\t"
                         "smmulr %[a0], %[a0], %[c]\n\t"
                         "smmulr %[a1], %[a1], %[c]\n\t"
                         "smmulr %[a2], %[a2], %[c]\n\t"
                         "smmulr %[a3], %[a3], %[c]\n\t"
                         "ldrsh %[a0], [%[tab], %[a0], lsl #1]\n\t"
                         "ldrsh %[a1], [%[tab], %[a1], lsl #1]\n\t"
                         "ldrsh %[a2], [%[tab], %[a2], lsl #1]\n\t"
                         "ldrsh %[a3], [%[tab], %[a3], lsl #1]\n\t"
                         "orr %[a0], %[a0], %[a1], lsl #8\n\t"
                         "orr %[a0], %[a0], %[a2], lsl #16\n\t"
                         "orr %[a0], %[a0], %[a3], lsl #24\n\t"
                         : [sp] "+r"(sp), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
                         : [sh] "r"(sh), [c] "r"(c), [tab] "r"(tab)
                         : "memory");
        fw[g] = a0;
    }
    if (m & 3) { /* the padding anchors of the last group (copies of anchor 0) are dropped */
        fw[groups - 1] &= (1u << (8 * (m & 3))) - 1u;
    }
    int32_t k = 0;
    if (groups == 2) { /* 8 anchors: per bit one LDM of {mask 0, mask 1, -threshold}, two USADA8, the sign to C, ADC */
        const uint32_t f0 = fw[0], f1 = fw[1];
        for (; k + 8 <= nb; k += 8) {
            register uint32_t m0 __asm__("r4");
            register uint32_t m1 __asm__("r5");
            register uint32_t th __asm__("r6");
            uint32_t neg = 0;
            __asm__ volatile(EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8
                             EFM_HE_BIT8
                             : [pm] "+r"(pm), [neg] "+r"(neg), [m0] "=&r"(m0), [m1] "=&r"(m1), [th] "=&r"(th)
                             : [f0] "r"(f0), [f1] "r"(f1)
                             : "cc", "memory");
            /* bit 0 came first, so it is bit 7 of neg: reverse the bits (RBIT), the byte is then the top one */
            uint32_t rev;
            __asm__("rbit %0, %1" : "=r"(rev) : "r"(neg));
            *out++ = (uint8_t)~(rev >> 24);
        }
    }
    uint32_t neg = 0;
    for (int32_t e = 0; k < nb; k++, e++, pm += groups + 1) {
        uint32_t u = pm[groups]; /* -threshold */
        for (int32_t g = 0; g < groups; g++) {
            u = efm_usada8(fw[g], pm[g], u);
        }
        neg |= (u >> 31) << (e & 7);
        if ((e & 7) == 7 || k == nb - 1) {
            *out++ = (uint8_t)(~neg & ((2u << (e & 7)) - 1));
            neg = 0;
        }
    }
}

/* The two feature words of one token of one head with d = 16 and 5..8 anchors, straight-line: per group of four
 * anchors one LDM (or two LDRD) of corr_j from st, two LDRD of the x words (xv), four LDM of masks and 16 USADA8
 * (the sums S_j), then one LDRD of {sh, c} and one LDR of the table from st, per anchor LSL, SMMULR and LDRSH, the
 * four bytes ORR-packed and stored to st[11 + g]. st: corr [8], sh, c, table pointer, the two feature words. */
#define EFM_HE_SFW(X)                                                                                            \
    "ldmia %[mk]!, {%[m0], %[m1], %[m2], %[m3]}\n\t"                                                             \
    "usada8 %[a0], %[" X "], %[m0], %[a0]\n\t"                                                                   \
    "usada8 %[a1], %[" X "], %[m1], %[a1]\n\t"                                                                   \
    "usada8 %[a2], %[" X "], %[m2], %[a2]\n\t"                                                                   \
    "usada8 %[a3], %[" X "], %[m3], %[a3]\n\t"
#define EFM_HE_SFG(OUT)                                                                                          \
    "ldrd %[v], %[w], [%[xv]]\n\t" EFM_HE_SFW("v") EFM_HE_SFW("w") "ldrd %[v], %[w], [%[xv], #8]\n\t"            \
    EFM_HE_SFW("v") EFM_HE_SFW("w") "ldrd %[v], %[w], [%[st], #32]\n\t"                                          \
    "ldr %[m0], [%[st], #40]\n\t"                                                                                \
    "lsl %[a0], %[a0], %[v]\n\t"                                                                                 \
    "lsl %[a1], %[a1], %[v]\n\t"                                                                                 \
    "lsl %[a2], %[a2], %[v]\n\t"                                                                                 \
    "lsl %[a3], %[a3], %[v]\n\t"                                                                                 \
    "smmulr %[a0], %[a0], %[w]\n\t"                                                                              \
    "smmulr %[a1], %[a1], %[w]\n\t"                                                                              \
    "smmulr %[a2], %[a2], %[w]\n\t"                                                                              \
    "smmulr %[a3], %[a3], %[w]\n\t"                                                                              \
    "ldrsh %[a0], [%[m0], %[a0], lsl #1]\n\t"                                                                    \
    "ldrsh %[a1], [%[m0], %[a1], lsl #1]\n\t"                                                                    \
    "ldrsh %[a2], [%[m0], %[a2], lsl #1]\n\t"                                                                    \
    "ldrsh %[a3], [%[m0], %[a3], lsl #1]\n\t"                                                                    \
    "orr %[a0], %[a0], %[a1], lsl #8\n\t"                                                                        \
    "orr %[a0], %[a0], %[a2], lsl #16\n\t"                                                                       \
    "orr %[a0], %[a0], %[a3], lsl #24\n\t"                                                                       \
    "str %[a0], [%[st], #" OUT "]\n\t"
static inline __attribute__((always_inline)) void efm_he_features16(const uint32_t *xv, const uint32_t *mk,
                                                                    uint32_t *st) {
    register uint32_t m0 __asm__("r4");
    register uint32_t m1 __asm__("r5");
    register uint32_t m2 __asm__("r6");
    register uint32_t m3 __asm__("r7");
    register uint32_t a0 __asm__("r8");
    register uint32_t a1 __asm__("r9");
    register uint32_t a2 __asm__("r10");
    register uint32_t a3 __asm__("r11");
    uint32_t v, w;
    __asm__ volatile("ldmia %[st], {%[a0], %[a1], %[a2], %[a3]}\n\t" EFM_HE_SFG("44")
                     "ldrd %[a0], %[a1], [%[st], #16]\n\t"
                     "ldrd %[a2], %[a3], [%[st], #24]\n\t" EFM_HE_SFG("48")
                     : [mk] "+r"(mk), [v] "=&r"(v), [w] "=&r"(w), [m0] "=&r"(m0), [m1] "=&r"(m1), [m2] "=&r"(m2),
                       [m3] "=&r"(m3), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
                     : [xv] "r"(xv), [st] "r"(st)
                     : "memory");
}
#undef EFM_HE_SFG
#undef EFM_HE_SFW

/* d = 16, 5..8 anchors, byte features, 16 bits: all tokens of one head, straight-line per token (the
 * norm and XOR-offset of the four words in registers, the eight anchor sums, the eight features packed in two
 * words, per code bit one LDM and two USADA8). */
__attribute__((noinline)) static void efm_he_head16(const int8_t *xs, int32_t stride, int32_t n, uint32_t zp2,
                                                     int32_t rad, const uint32_t *mk, const int32_t *corr,
                                                     const int16_t *tab, uint32_t fmask,
                                                     const uint32_t *pm0, uint8_t *out) {
    uint32_t st[13]; /* efm_he_features16's corr, sh, c, table and feature words */
    for (int32_t j = 0; j < 8; j++) {
        st[j] = (uint32_t)corr[j];
    }
    st[10] = (uint32_t)(uintptr_t)tab;
    for (int32_t t = 0; t < n; t++, xs += stride) {
        const uint32_t v0 = efm_load4(xs), v1 = efm_load4(xs + 4), v2 = efm_load4(xs + 8), v3 = efm_load4(xs + 12);
        uint32_t xv[4];
        int32_t q;
        {
            const uint32_t l0 = efm_ssub16(efm_sxtb16(v0), zp2), h0 = efm_ssub16(efm_sxtb16_ror8(v0), zp2);
            const uint32_t l1 = efm_ssub16(efm_sxtb16(v1), zp2), h1 = efm_ssub16(efm_sxtb16_ror8(v1), zp2);
            const uint32_t l2 = efm_ssub16(efm_sxtb16(v2), zp2), h2 = efm_ssub16(efm_sxtb16_ror8(v2), zp2);
            const uint32_t l3 = efm_ssub16(efm_sxtb16(v3), zp2), h3 = efm_ssub16(efm_sxtb16_ror8(v3), zp2);
            q = efm_smlad(l0, l0, efm_smlad(h0, h0, efm_smlad(l1, l1, efm_smlad(h1, h1, 0))));
            q = efm_smlad(l2, l2, efm_smlad(h2, h2, efm_smlad(l3, l3, efm_smlad(h3, h3, q))));
        }
        xv[0] = v0 ^ 0x80808080u;
        xv[1] = v1 ^ 0x80808080u;
        xv[2] = v2 ^ 0x80808080u;
        xv[3] = v3 ^ 0x80808080u;
        int32_t c = 0, sh = 0;
        if (q > 0) {
            const uint32_t dq = 16u * (uint32_t)q;
            const int32_t k = __builtin_clz(dq) >> 1;
            sh = k + 1;
            c = rad * (int32_t)(0x80000000u / efm_he_root_fast(dq << (2 * k)));
        }
        st[8] = (uint32_t)sh;
        st[9] = (uint32_t)c;
        efm_he_features16(xv, mk, st);
        const uint32_t f0 = st[11], f1 = st[12] & fmask; /* the padding anchors' features dropped */
        { /* both code bytes in one pass, one halfword store */
            const uint32_t *pm = pm0;
            register uint32_t m0 __asm__("r4");
            register uint32_t m1 __asm__("r5");
            register uint32_t th __asm__("r6");
            uint32_t neg = 0;
#define EFM_HE_BIT8X4 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8 EFM_HE_BIT8
            __asm__ volatile(EFM_HE_BIT8X4 EFM_HE_BIT8X4 EFM_HE_BIT8X4 EFM_HE_BIT8X4
                             : [pm] "+r"(pm), [neg] "+r"(neg), [m0] "=&r"(m0), [m1] "=&r"(m1), [th] "=&r"(th)
                             : [f0] "r"(f0), [f1] "r"(f1)
                             : "cc", "memory");
#undef EFM_HE_BIT8X4
            uint32_t rev;
            __asm__("rbit %0, %1" : "=r"(rev) : "r"(neg));
            const uint16_t code = (uint16_t)~(rev >> 16);
            __builtin_memcpy(out, &code, 2);
            out += 2;
        }
    }
}

void efm_hash_encode(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors, const int16_t *table,
                     const int8_t *proj, const int32_t *offset, uint8_t *y, int32_t *scratch) {
    const int32_t d = p->depth, nh = p->heads, m = p->anchors, nb = p->bits, rad = p->radius, n = p->tokens;
    const int32_t cb = p->code_bytes, words = d >> 2, groups = (m + 3) >> 2, tw = 2 * rad + 1;
    /* the d = 16 straight-line pass needs no scratch (emitters/hash_encode.py sizes it per path) */
    const int32_t head16 = p->pmask != NULL && words == 4 && groups == 2 && nb == 16 && cb == 2;
    if ((d & 3) != 0 || p->masks == NULL || (scratch == NULL && !head16)) {
        efm_hash_encode_portable(p, x, anchors, table, proj, offset, y, scratch);
        return;
    }
    const uint32_t zp2 = ((uint32_t)p->x_zp & 0xFFFFu) * 0x00010001u;
    for (int32_t b = 0; b < p->batch; b++) {
        for (int32_t h = 0; h < nh; h++) {
            const uint32_t *mk = p->masks + (ptrdiff_t)h * groups * words * 4;
            const int32_t *corr = p->corr + h * groups * 4;
            const int16_t *tab = table + (ptrdiff_t)h * tw + rad;
            const uint16_t *nib = p->nibbles + (ptrdiff_t)h * nb * groups;
            const int32_t *off = offset + h * nb;
            const int8_t *xs = x + (ptrdiff_t)b * n * nh * d + h * d;
            uint8_t *out = y + ((ptrdiff_t)b * nh + h) * n * cb;
            if (head16) {
                const uint32_t fmask = (m & 3) ? (1u << (8 * (m & 3))) - 1u : 0xFFFFFFFFu;
                efm_he_head16(xs, nh * d, n, zp2, rad, mk, corr, tab, fmask,
                              p->pmask + (ptrdiff_t)h * nb * (groups + 1), out);
                continue;
            }
            if (p->pmask != NULL) {
                const uint32_t *pm = p->pmask + (ptrdiff_t)h * nb * (groups + 1);
                for (int32_t t = 0; t < n; t++, xs += nh * d, out += cb) {
                    efm_he_token8(xs, words, d, zp2, rad, groups, mk, corr, tab, m, nb, pm, scratch, out);
                }
                continue;
            }
            for (int32_t t = 0; t < n; t++, xs += nh * d, out += cb) {
                efm_he_token(xs, words, d, zp2, rad, groups, mk, corr, tab, m, nb, nib, off, scratch, out);
            }
        }
    }
}

#endif
