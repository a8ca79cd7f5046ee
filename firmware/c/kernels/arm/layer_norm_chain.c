/* LAYER_NORM_CHAIN for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/layer_norm_chain.c.
 *
 * Three passes per row. Mean: USADA8 sums four bytes (x ^ 0x80 = x + 128) per instruction. Variance: the
 * SQUARED_DIFFERENCE-rescaled x comes from a 256-entry table (packed in both int16 halves: SSUB16 and SMUAD give
 * 2 d^2; the row's mean rescaled once per row), then its requantization and the sum. Normalization (asm): the
 * SUB-rescaled x from a second table, SUB's and MUL's requantizations, with gamma and beta (from a per-channel
 * table: MUL(n, gamma) by one MLA and its requantization, ADD(s, beta) by one SMLAL with an exactly fitted pair)
 * in the same pass, the store.
 *
 * Every requantization mbqm(v, M, shift) + zp of the chain runs in 32-bit operations where that is exact (checked
 * once per call from the parameters; otherwise the portable arithmetic, efm_lnc_row, runs):
 * gemmlowp's rounding doubling high multiply (a * M + 2^30) >> 31, rounded half up for either sign, is
 * SMMULR(2a, M) when 2a fits in 32 bits, and the rounding right shift by e (half away from zero) is
 * (t + (t < 0 ? -1 : 0) + 2^(e-1)) >> e, with the output zero point folded in as zp * 2^e. */
#ifdef EFM_ARM_LAYER_NORM_CHAIN

/* efm_arm.h defines the matrix kernels' static helpers, unused here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "layer_norm_chain.h"

/* mbqm(v, mult, shift) + zp in 32-bit operations: with v2 = v << (left + 1), left = max(shift, 0), e = max(-shift, 0)
 * and k = 2^(e-1) + zp 2^e (k = zp when e = 0), it is (SMMLAR(v2, mult, k + s)) >> e, s = -1 when v2 < 0 and e > 0
 * (the half-away-from-zero rounding of a negative t = SMMULR(v2, mult); t and v2 have the same sign, and at t = 0
 * either s gives the same result). */
typedef struct {
    int32_t mult, left, e, k, sign;
} efm_lnc_rq;

/* The 32-bit form of mbqm(v, mult, shift) + zp for |v| <= max_abs_v; 0 when it would not be exact (the doubled,
 * left-shifted v or the sum t + k could leave the int32 range; |t| <= 2^30). */
static int efm_lnc_prepare(efm_lnc_rq *q, int32_t mult, int32_t shift, int32_t zp, int64_t max_abs_v) {
    const int32_t left = shift > 0 ? shift : 0, e = shift > 0 ? 0 : -shift;
    /* (max_abs_v << (left + 1)) < 2^31; e <= 30 (e = 31 would give k >= 2^30) */
    if (left > 20 || e > 30 || max_abs_v >= (int64_t)(1u << (30 - left))) {
        return 0;
    }
    const int64_t k = e ? (int64_t)(2 * zp + 1) * (1 << (e - 1)) : zp; /* 2^(e-1) + zp 2^e */
    if (k >= ((int64_t)1 << 30) || k <= -((int64_t)1 << 30)) {
        return 0;
    }
    q->mult = mult;
    q->left = left;
    q->e = e;
    q->k = (int32_t)k;
    q->sign = e ? -1 : 0;
    return 1;
}

/* mbqm(v, mult, shift) + zp of a signed v with q (any e). */
static inline int32_t efm_lnc_apply(const efm_lnc_rq *q, int32_t v) {
    const int32_t v2 = v * (1 << (q->left + 1));
    return efm_smmlar(v2, q->mult, q->k + ((v2 >> 31) & q->sign)) >> q->e;
}

/* a.lo b.lo + a.hi b.hi */
static inline int32_t efm_smuad(uint32_t a, uint32_t b) {
    int32_t r;
    __asm__("smuad %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* Hides a pointer's value from the optimizer, so that table[x] with a signed byte x stays one load (the compiler
 * otherwise re-derives table + 128 inside the loop). */
#define EFM_LNC_OPAQUE(ptr) __asm__("" : "+r"(ptr))

typedef struct {
    efm_lnc_rq mean, square_b, centered_b, centered, square, variance, normalized, scaled, shifted;
} efm_lnc_fast;

static int efm_lnc_fast_params(const efm_layer_norm_chain_params *p, efm_lnc_fast *f) {
    const int32_t *me = p->mean, *c = p->centered, *s = p->square, *va = p->variance, *n = p->normalized;
    const int32_t *g = p->scaled, *b = p->shifted;
    const int64_t sums = 255 * (int64_t)p->channels;
    memset(f, 0, sizeof *f);
    if ((p->square_form == 0 && p->square_table == NULL) || p->centered_table == NULL || p->gamma_form != 0) {
        return 0; /* gamma on the reciprocal root: the portable arithmetic */
    }
    int ok = efm_lnc_prepare(&f->mean, me[EFM_LNC_MEAN_MULT], me[EFM_LNC_MEAN_SHIFT], me[EFM_LNC_MEAN_ZP], sums) &&
             efm_lnc_prepare(&f->variance, va[EFM_LNC_MEAN_MULT], va[EFM_LNC_MEAN_SHIFT], va[EFM_LNC_MEAN_ZP], sums);
    ok = ok && efm_lnc_prepare(&f->centered_b, c[EFM_LNC_B_MULT], c[EFM_LNC_B_SHIFT], 0, 255 << 20) &&
         efm_lnc_prepare(&f->centered, c[EFM_LNC_MULT], c[EFM_LNC_SHIFT], c[EFM_LNC_ZP], (int64_t)1 << 28) &&
         f->centered.left == 0 && f->centered.e > 0;
    if (p->square_form == 0) {
        ok = ok && efm_lnc_prepare(&f->square_b, s[EFM_LNC_B_MULT], s[EFM_LNC_B_SHIFT], 0, 255 << 7) &&
             efm_lnc_prepare(&f->square, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT], s[EFM_LNC_ZP], 32640 * 32640) &&
             f->square.left == 0;
    } else {
        ok = ok && efm_lnc_prepare(&f->square, s[EFM_LNC_MULT], s[EFM_LNC_SHIFT], s[EFM_LNC_ZP], 255 * 255);
    }
    ok = ok && efm_lnc_prepare(&f->normalized, n[EFM_LNC_MULT], n[EFM_LNC_SHIFT], n[EFM_LNC_ZP], 255 * 255);
    if (p->gamma_count) {
        ok = ok && (p->gamma_table != NULL || p->affine_table != NULL) &&
             efm_lnc_prepare(&f->scaled, g[EFM_LNC_MULT], g[EFM_LNC_SHIFT], g[EFM_LNC_ZP], 255 * 255);
    }
    if (p->beta_count && p->affine_table == NULL) { /* the sum of the two doubled rescaled inputs: |v| < 2^29 */
        ok = ok && p->beta_table != NULL && p->shifted_table != NULL &&
             efm_lnc_prepare(&f->shifted, b[EFM_LNC_MULT], b[EFM_LNC_SHIFT], b[EFM_LNC_ZP], (int64_t)1 << 28) &&
             f->shifted.left == 0;
    }
    return ok;
}

/* Sum of a row: four bytes per USADA8 (x ^ 0x80 is x + 128 as an unsigned byte). */
static inline int32_t efm_lnc_sum(const int8_t *x, int32_t ch) {
    uint32_t su = 0;
    int32_t i = ch & ~15;
    if (i) { /* sixteen bytes per iteration: LDM, four EOR and USADA8 (x 4-byte aligned: rows of a multiple of 16) */
        const int8_t *xp = x, *xe = x + i;
        uint32_t w0, w1, w2, w3, z;
        if (((uintptr_t)x & 3) == 0) {
            __asm__ volatile("mov %[z], #0\n\t"
                             "1:\n\t"
                             "ldm %[x]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"
                             "eor %[w0], %[w0], #0x80808080\n\t"
                             "eor %[w1], %[w1], #0x80808080\n\t"
                             "eor %[w2], %[w2], #0x80808080\n\t"
                             "eor %[w3], %[w3], #0x80808080\n\t"
                             "usada8 %[su], %[w0], %[z], %[su]\n\t"
                             "usada8 %[su], %[w1], %[z], %[su]\n\t"
                             "usada8 %[su], %[w2], %[z], %[su]\n\t"
                             "usada8 %[su], %[w3], %[z], %[su]\n\t"
                             "cmp %[x], %[xe]\n\t"
                             "bne 1b\n\t"
                             : [x] "+&r"(xp), [su] "+&r"(su), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                               [w3] "=&r"(w3), [z] "=&r"(z)
                             : [xe] "r"(xe)
                             : "cc", "memory");
        } else {
            i = 0;
        }
    }
    for (; i + 4 <= ch; i += 4) {
        su = efm_usada8(efm_load4(x + i) ^ 0x80808080u, 0, su);
    }
    int32_t total = (int32_t)su - 128 * i;
    for (; i < ch; i++) {
        total += x[i];
    }
    return total;
}

/* gamma: MUL(n, gamma) with (gamma_i - zp) << (left + 1) from a per-channel table; beta: ADD(., beta) with twice
 * the rescaled n from a 256-entry table and twice the rescaled beta_i per channel; one more pass over the row in y. */
__attribute__((noinline)) static void efm_lnc_affine(const efm_layer_norm_chain_params *p, const efm_lnc_fast *f,
                                                     int8_t *y) {
    const int32_t ch = p->channels;
    if (p->gamma_count) {
        const int32_t *gt = p->gamma_table;
        const int32_t step = p->gamma_count > 1, za = p->scaled[EFM_LNC_A_ZP];
        const int32_t m = f->scaled.mult, k = f->scaled.k, sg = f->scaled.sign, e = f->scaled.e;
        for (int32_t i = 0; i < ch; i++) {
            const int32_t v = (y[i] - za) * gt[step * i];
            y[i] = (int8_t)efm_ssat8(efm_smmlar(v, m, k + ((v >> 31) & sg)) >> e);
        }
    }
    if (p->beta_count) {
        const int32_t *at = p->shifted_table + 128, *bt = p->beta_table;
        EFM_LNC_OPAQUE(at);
        const int32_t step = p->beta_count > 1;
        const int32_t m = f->shifted.mult, k = f->shifted.k, sg = f->shifted.sign, e = f->shifted.e;
        for (int32_t i = 0; i < ch; i++) {
            const int32_t v = at[y[i]] + bt[step * i];
            y[i] = (int8_t)efm_ssat8(efm_smmlar(v, m, k + ((v >> 31) & sg)) >> e);
        }
    }
}

/* gamma and / or beta from the per-channel affine_table, one element of y at %[y] (post-incremented), its entry at
 * %[t] (LDM into r4, r5 = {g, k}; r6, r7, r8 = {A, B low, B high}): MUL(n, gamma) as v = n g + k (MLA) and MUL's
 * requantization (with the sign correction and shift when e > 0: EFM_LNC_E), ADD(s, beta) as
 * ssat8(hi32((s << 8) A + B)) (SMLAL). */
#define EFM_LNC_E(X) X
#define EFM_LNC_E0(X)
/* ALT(F, X): X where F drops its argument */
#define EFM_LNC_ALT(F, X) EFM_LNC_ALT_##F(X)
#define EFM_LNC_ALT_EFM_LNC_E(X)
#define EFM_LNC_ALT_EFM_LNC_E0(X) X
#define EFM_LNC_GAMMA(E)                                                                                       \
    "mla %[v], %[v], r4, r5\n\t" E("add %[kt], %[k], %[v], asr #31\n\t") "smmlar %[v], %[v], %[m], "            \
    E("%[kt]") EFM_LNC_ALT(E, "%[k]") "\n\t" E("asr %[v], %[v], %[e]\n\t") "ssat %[v], #8, %[v]\n\t"
#define EFM_LNC_BETA                                                                                           \
    "lsl %[v], %[v], #8\n\t"                                                                                     \
    "smlal r7, r8, %[v], r6\n\t"                                                                                 \
    "ssat %[v], #8, r8\n\t"
#define EFM_LNC_GB(E)                                                                                          \
    "ldrsb %[v], [%[y]]\n\t"                                                                                     \
    "ldm %[t]!, {r4, r5}\n\t" EFM_LNC_GAMMA(E) "add %[t], %[t], #12\n\t"                                          \
    "ldm %[t]!, {r6, r7, r8}\n\t" EFM_LNC_BETA "strb %[v], [%[y]], #1\n\t"
#define EFM_LNC_G(E)                                                                                           \
    "ldrsb %[v], [%[y]]\n\t"                                                                                     \
    "ldm %[t]!, {r4, r5}\n\t" EFM_LNC_GAMMA(E) "strb %[v], [%[y]], #1\n\t"
#define EFM_LNC_B(E)                                                                                           \
    "ldrsb %[v], [%[y]]\n\t"                                                                                     \
    "ldm %[t]!, {r6, r7, r8}\n\t" EFM_LNC_BETA "strb %[v], [%[y]], #1\n\t"

/* The tail loop over `count` >= 0 elements: one alone when the count is odd, then pairs. */
#define EFM_LNC_TAIL_LOOP(BODY, E)                                                                             \
    do {                                                                                                        \
        register int32_t r4 __asm__("r4"), r5 __asm__("r5"), r6 __asm__("r6"), r7 __asm__("r7"),             \
            r8 __asm__("r8");                                                                                   \
        int32_t v, kt, pairs = count >> 1;                                                                      \
        if (count & 1) {                                                                                        \
            __asm__ volatile(BODY(E)                                                                            \
                             : [v] "=&r"(v), [kt] "=&r"(kt), [y] "+&r"(y), [t] "+&r"(t), "=&r"(r4), "=&r"(r5),   \
                               "=&r"(r6), "=&r"(r7), "=&r"(r8)                                                  \
                             : [m] "r"(m), [k] "r"(k), [e] "r"(e)                                               \
                             : "memory");                                                                       \
        }                                                                                                       \
        if (pairs) {                                                                                            \
            __asm__ volatile("1:\n\t" BODY(E) BODY(E) "subs %[n], %[n], #1\n\t"                                 \
                                                      "bne 1b\n\t"                                              \
                             : [v] "=&r"(v), [kt] "=&r"(kt), [y] "+&r"(y), [t] "+&r"(t), [n] "+&r"(pairs),         \
                               "=&r"(r4), "=&r"(r5), "=&r"(r6), "=&r"(r7), "=&r"(r8)                            \
                             : [m] "r"(m), [k] "r"(k), [e] "r"(e)                                               \
                             : "cc", "memory");                                                                 \
        }                                                                                                       \
    } while (0)

/* gamma and / or beta by the affine_table: one pass over the row in y (13 instructions per element with both; the
 * fused normalization below does both in its pass where it can). */
__attribute__((noinline)) static void efm_lnc_tail(const efm_layer_norm_chain_params *p, const efm_lnc_fast *f,
                                                   int8_t *y) {
    const int32_t *t = p->affine_table;
    const int32_t count = p->channels;
    const int32_t m = f->scaled.mult, k = f->scaled.k, e = f->scaled.e;
    if (p->gamma_count && p->beta_count) {
        if (e) {
            EFM_LNC_TAIL_LOOP(EFM_LNC_GB, EFM_LNC_E);
        } else {
            EFM_LNC_TAIL_LOOP(EFM_LNC_GB, EFM_LNC_E0);
        }
    } else if (p->gamma_count) {
        if (e) {
            EFM_LNC_TAIL_LOOP(EFM_LNC_G, EFM_LNC_E);
        } else {
            EFM_LNC_TAIL_LOOP(EFM_LNC_G, EFM_LNC_E0);
        }
    } else {
        EFM_LNC_TAIL_LOOP(EFM_LNC_B, EFM_LNC_E0);
    }
}

/* The normalization pass of one row (square_form 0) as naked asm functions, one per form, over the arguments
 * efm_lnc_nargs (in this order: LDM loads them into r1-r12): x r1, y r2, ct r3, b2 r4, kc r5, mc r6, ec r7, r2 r8,
 * k0 r9, kn r10, mn r11, en r12; t lr, kt r0; the end of x on the stack. Per element: c = SUB(x, m) from the table
 * (rounding shift ec > 0; CFIX: with the sign correction), n = MUL(c, r) (NFIX: with the sign correction, NSH:
 * with the rounding shift en), 13 instructions with both corrections; two elements per iteration (an even count
 * >= 2). Stack: GCC reports a naked function's frame as 0 bytes; these and the fused ones below push at most 64
 * (nine saved registers, seven words of constants), less than the frame of efm_lnc_row (the portable fallback,
 * called from the same two entry points), so the static stack bound of every chain still holds. */
typedef struct {
    const int8_t *x;
    int8_t *y;
    const int32_t *ct;
    int32_t b2, kc, mc, ec, r2, k0, kn, mn, en;
    const int8_t *xe;
} efm_lnc_nargs;

#define EFM_LNC_NORM1(CFIX, NFIX, NSH)                                                                         \
    "ldrsb lr, [r1], #1\n\t"                                                                                    \
    "ldr lr, [r3, lr, lsl #2]\n\t"                                                                              \
    "sub lr, lr, r4\n\t" CFIX("add r0, r5, lr, asr #31\n\t")                                                    \
    "smmlar lr, lr, r6, " CFIX("r0") EFM_LNC_ALT(CFIX, "r5") "\n\t"                                             \
    "asr lr, lr, r7\n\t"                                                                                        \
    "ssat lr, #8, lr\n\t"                                                                                       \
    "mla lr, lr, r8, r9\n\t" NFIX("add r0, r10, lr, asr #31\n\t")                                               \
    "smmlar lr, lr, r11, " NFIX("r0") EFM_LNC_ALT(NFIX, "r10") "\n\t"                                           \
    NSH("asr lr, lr, r12\n\t")                                                                                  \
    "ssat lr, #8, lr\n\t"                                                                                       \
    "strb lr, [r2], #1\n\t"

#define EFM_LNC_NORM_FN(NAME, CFIX, NFIX, NSH)                                                                 \
    __attribute__((naked, noinline)) static void NAME(const efm_lnc_nargs *a) {                                 \
        (void)a;                                                                                                \
        __asm__ volatile("push {r4-r11, lr}\n\t"                                                                \
                         "ldr lr, [r0, #48]\n\t"                                                                \
                         "push {lr}\n\t"                                                                        \
                         "ldm r0, {r1-r12}\n\t"                                                                 \
                         "1:\n\t" EFM_LNC_NORM1(CFIX, NFIX, NSH) EFM_LNC_NORM1(CFIX, NFIX, NSH)                    \
                         "ldr r0, [sp]\n\t"                                                                     \
                         "cmp r1, r0\n\t"                                                                       \
                         "bne 1b\n\t"                                                                           \
                         "add sp, sp, #4\n\t"                                                                   \
                         "pop {r4-r11, pc}\n\t");                                                               \
    }

EFM_LNC_NORM_FN(efm_lnc_norm_0, EFM_LNC_E, EFM_LNC_E, EFM_LNC_E)
EFM_LNC_NORM_FN(efm_lnc_norm_1, EFM_LNC_E0, EFM_LNC_E, EFM_LNC_E)
EFM_LNC_NORM_FN(efm_lnc_norm_2, EFM_LNC_E, EFM_LNC_E0, EFM_LNC_E)
EFM_LNC_NORM_FN(efm_lnc_norm_3, EFM_LNC_E0, EFM_LNC_E0, EFM_LNC_E)
EFM_LNC_NORM_FN(efm_lnc_norm_4, EFM_LNC_E, EFM_LNC_E0, EFM_LNC_E0)
EFM_LNC_NORM_FN(efm_lnc_norm_5, EFM_LNC_E0, EFM_LNC_E0, EFM_LNC_E0)

/* The normalization with gamma and beta fused in (both present, gamma_form 0, MUL(n, gamma) with a rounding shift):
 * naked asm per form of the c and n stages, over efm_lnc_fargs. The per-call constants {kc, mc, ec, kn, mn, en}
 * and the end of x are copied to the stack and reloaded by one LDM per element (into r0, r8-r12); x r1, y r2,
 * ct r3, b2 r4, r2 r5, k0 r6, the affine_table r7 (8 words per channel: two LDMs), t lr. 24 instructions per
 * element with both sign corrections of c and n dropped. */
typedef struct {
    int32_t kc, mc, ec, kn, mn, en;
    const int8_t *xe, *x;
    int8_t *y;
    const int32_t *ct;
    int32_t b2, r2, k0;
    const int32_t *tp;
} efm_lnc_fargs;

#define EFM_LNC_FUSED1(CFIX, NFIX, NSH)                                                                        \
    "ldm sp, {r0, r8, r9, r10, r11, r12}\n\t"                                                                   \
    "ldrsb lr, [r1], #1\n\t"                                                                                    \
    "ldr lr, [r3, lr, lsl #2]\n\t"                                                                              \
    "sub lr, lr, r4\n\t" CFIX("add r0, r0, lr, asr #31\n\t")                                                    \
    "smmlar lr, lr, r8, r0\n\t"                                                                                 \
    "asr lr, lr, r9\n\t"                                                                                        \
    "ssat lr, #8, lr\n\t"                                                                                       \
    "mla lr, lr, r5, r6\n\t" NFIX("add r10, r10, lr, asr #31\n\t")                                              \
    "smmlar lr, lr, r11, r10\n\t" NSH("asr lr, lr, r12\n\t")                                                    \
    "ssat lr, #8, lr\n\t"                                                                                       \
    "ldm r7!, {r0, r8, r9, r10, r11}\n\t"                                                                       \
    "mla lr, lr, r0, r8\n\t"                                                                                    \
    "add r9, r9, lr, asr #31\n\t"                                                                               \
    "smmlar lr, lr, r10, r9\n\t"                                                                                \
    "asr lr, lr, r11\n\t"                                                                                       \
    "ssat lr, #8, lr\n\t"                                                                                       \
    "ldm r7!, {r0, r8, r9}\n\t"                                                                                 \
    "lsl lr, lr, #8\n\t"                                                                                        \
    "smlal r8, r9, lr, r0\n\t"                                                                                  \
    "ssat lr, #8, r9\n\t"                                                                                       \
    "strb lr, [r2], #1\n\t"

#define EFM_LNC_FUSED_FN(NAME, CFIX, NFIX, NSH)                                                                \
    __attribute__((naked, noinline)) static void NAME(const efm_lnc_fargs *a) {                                 \
        (void)a;                                                                                                \
        __asm__ volatile("push {r4-r11, lr}\n\t"                                                                \
                         "ldm r0!, {r1-r7}\n\t"                                                                 \
                         "push {r1-r7}\n\t"                                                                     \
                         "ldm r0, {r1-r7}\n\t"                                                                  \
                         "1:\n\t" EFM_LNC_FUSED1(CFIX, NFIX, NSH) EFM_LNC_FUSED1(CFIX, NFIX, NSH)                  \
                         "ldr r0, [sp, #24]\n\t"                                                                \
                         "cmp r1, r0\n\t"                                                                       \
                         "bne 1b\n\t"                                                                           \
                         "add sp, sp, #28\n\t"                                                                  \
                         "pop {r4-r11, pc}\n\t");                                                               \
    }

EFM_LNC_FUSED_FN(efm_lnc_fused_0, EFM_LNC_E, EFM_LNC_E, EFM_LNC_E)
EFM_LNC_FUSED_FN(efm_lnc_fused_1, EFM_LNC_E0, EFM_LNC_E, EFM_LNC_E)
EFM_LNC_FUSED_FN(efm_lnc_fused_2, EFM_LNC_E, EFM_LNC_E0, EFM_LNC_E)
EFM_LNC_FUSED_FN(efm_lnc_fused_3, EFM_LNC_E0, EFM_LNC_E0, EFM_LNC_E)
EFM_LNC_FUSED_FN(efm_lnc_fused_4, EFM_LNC_E, EFM_LNC_E0, EFM_LNC_E0)
EFM_LNC_FUSED_FN(efm_lnc_fused_5, EFM_LNC_E0, EFM_LNC_E0, EFM_LNC_E0)

/* The normalization pass; `from_y`: c was stored in y by the variance pass (MUL(c, c) form); `mul_e0`: MUL(c, r)
 * has no rounding shift (e == 0); `affine`: gamma and / or beta follow (their own passes). */
static inline __attribute__((always_inline)) void efm_lnc_normalize(
    const efm_layer_norm_chain_params *p, const efm_lnc_fast *f, const int8_t *x, int8_t *y, int32_t b2, int32_t r,
    const int from_y, const int mul_e0, const int affine) {
    const int32_t ch = p->channels;
    const int32_t *ct = p->centered_table + 128;
    EFM_LNC_OPAQUE(ct);
    const int32_t mc = f->centered.mult, kc = f->centered.k, ec = f->centered.e;
    const int32_t mn = f->normalized.mult, kn = f->normalized.k, en = f->normalized.e;
    const int32_t r2 = (r - p->normalized[EFM_LNC_B_ZP]) * (1 << (f->normalized.left + 1));
    const int32_t k0 = -p->normalized[EFM_LNC_A_ZP] * r2;
    int32_t i = 0;
    /* two elements per iteration: fewer loop instructions */
    #pragma GCC unroll 2
    for (; i < ch; i++) {
        int32_t c;
        if (from_y) {
            c = y[i];
        } else {
            const int32_t v = ct[x[i]] - b2;
            c = efm_ssat8(efm_smmlar(v, mc, kc + (v >> 31)) >> ec);
        }
        const int32_t pr = c * r2 + k0;
        int32_t n = mul_e0 ? efm_ssat8(efm_smmlar(pr, mn, kn)) : efm_ssat8(efm_smmlar(pr, mn, kn + (pr >> 31)) >> en);
        y[i] = (int8_t)n;
    }
    if (affine) {
        if (p->affine_table != NULL) {
            efm_lnc_tail(p, f, y);
        } else {
            efm_lnc_affine(p, f, y);
        }
    }
}

/* One row of the chain from its sum `total` (fast path, square_form 1: c stored in y by the variance pass). */
static inline void efm_lnc_fast_row(const efm_layer_norm_chain_params *p, const efm_lnc_fast *f, const int8_t *x,
                                    int32_t total, int8_t *y) {
    const int32_t ch = p->channels;
    const int32_t m = efm_ssat8(efm_lnc_apply(&f->mean, total - p->mean[EFM_LNC_MEAN_IN_ZP] * ch));
    const int32_t b2 = 2 * efm_lnc_apply(&f->centered_b, (m - p->centered[EFM_LNC_B_ZP]) * (1 << 20));
    int32_t squares = 0;
    const int32_t *ct = p->centered_table + 128;
    EFM_LNC_OPAQUE(ct);
    const int32_t mc = f->centered.mult, kc = f->centered.k, ec = f->centered.e;
    const int32_t ms = f->square.mult, ks = f->square.k, es = f->square.e, ls = f->square.left + 1;
    const int32_t zc = p->square[EFM_LNC_A_ZP];
    for (int32_t i = 0; i < ch; i++) {
        const int32_t v = ct[x[i]] - b2;
        const int32_t c = efm_ssat8(efm_smmlar(v, mc, kc + (v >> 31)) >> ec);
        y[i] = (int8_t)c;
        squares += efm_ssat8(efm_smmlar(((c - zc) * (c - zc)) << ls, ms, ks) >> es);
    }
    const int32_t v = efm_ssat8(efm_lnc_apply(&f->variance, squares - p->variance[EFM_LNC_MEAN_IN_ZP] * ch));
    const int32_t r = p->rsqrt[v + 128];
    const int affine = p->gamma_count || p->beta_count;
    if (f->normalized.e == 0) { /* whether MUL(c, r) has a rounding shift */
        efm_lnc_normalize(p, f, x, y, b2, r, 1, 1, affine);
    } else {
        efm_lnc_normalize(p, f, x, y, b2, r, 1, 0, affine);
    }
}

/* The per-call constants of the square_form 0 rows (the fast path's, flattened so that a row loads each once). */
typedef struct {
    int32_t ch, zm, lm, mm, km, sm, em;  /* m = ssat8(apply(total - zm)) */
    int32_t zc, lc, mcb, kcb, scb, ecb;  /* b2 = 2 apply((m - zc) << 20) */
    int32_t zs, ls, msb, ksb, ssb, esb;  /* b = apply((m - zs) << 7) */
    int32_t zv, lv, mv, kv, sv, ev;      /* v = ssat8(apply(squares - zv)) */
    int32_t ms, ks, es;                  /* the squares */
    int32_t mc, kc, ec, mn, kn, en;      /* c and n */
    int32_t zr, lr, zna;                 /* r2 = (r - zr) << lr, k0 = -zna r2 */
    int32_t form;                        /* bit 0: c without sign correction, 1: n without, 2: en == 0 */
    int32_t fused;                       /* gamma and beta in the normalization pass (efm_lnc_fargs) */
    const uint32_t *sqt;
    const int32_t *ct;
    const int8_t *rsqrt;
} efm_lnc_k;

/* The arguments of the row asm, their per-call fields set once. */
typedef struct {
    efm_lnc_nargs norm;
    efm_lnc_fargs fused;
} efm_lnc_args;

static void efm_lnc_k_init(const efm_layer_norm_chain_params *p, const efm_lnc_fast *f, efm_lnc_k *k,
                           efm_lnc_args *a) {
    const int32_t ch = p->channels;
#define EFM_LNC_Q(P, Q, L) P##m = Q.mult, P##k = Q.k, P##s = Q.sign, P##e = Q.e, P##l = Q.left + 1 + (L)
    int32_t Mm, Mk, Ms, Me, Ml, Cm, Ck, Cs, Ce, Cl, Sm, Sk, Ss, Se, Sl, Vm, Vk, Vs, Ve, Vl;
    EFM_LNC_Q(M, f->mean, 0);
    EFM_LNC_Q(C, f->centered_b, 20);
    EFM_LNC_Q(S, f->square_b, 7);
    EFM_LNC_Q(V, f->variance, 0);
#undef EFM_LNC_Q
    *k = (efm_lnc_k){ch, p->mean[EFM_LNC_MEAN_IN_ZP] * ch, Ml, Mm, Mk, Ms, Me,
                     p->centered[EFM_LNC_B_ZP], Cl, Cm, Ck, Cs, Ce,
                     p->square[EFM_LNC_B_ZP], Sl, Sm, Sk, Ss, Se,
                     p->variance[EFM_LNC_MEAN_IN_ZP] * ch, Vl, Vm, Vk, Vs, Ve,
                     f->square.mult, f->square.k, f->square.e,
                     f->centered.mult, f->centered.k, f->centered.e, f->normalized.mult, f->normalized.k,
                     f->normalized.e, p->normalized[EFM_LNC_B_ZP], f->normalized.left + 1,
                     p->normalized[EFM_LNC_A_ZP],
                     (p->arm_round & 1) | (p->arm_round & 2) | (f->normalized.e == 0 ? 4 : 0), 0,
                     p->square_table + 128, p->centered_table + 128, p->rsqrt + 128};
    a->norm = (efm_lnc_nargs){NULL, NULL, k->ct, 0, k->kc, k->mc, k->ec, 0, 0, k->kn, k->mn, k->en, NULL};
    a->fused = (efm_lnc_fargs){k->kc, k->mc, k->ec, k->kn, k->mn, k->en, NULL, NULL, NULL, k->ct, 0, 0, 0,
                               p->affine_table};
    const int32_t *t = p->affine_table;
    /* fused: gamma and beta, MUL(n, gamma) with a rounding shift, its constants in the table those of f */
    k->fused = t != NULL && p->gamma_count && p->beta_count && f->scaled.e > 0 && t[2] == f->scaled.k &&
               t[3] == f->scaled.mult && t[4] == f->scaled.e;
}

/* One element of the chain after c, as the fused asm computes it (an odd last element): n, MUL(n, gamma),
 * ADD(s, beta) from the channel's affine_table entry t. */
static int8_t efm_lnc_fused_one(const efm_lnc_k *k, const efm_lnc_fast *f, int32_t c, int32_t r2, int32_t k0,
                                const int32_t *t) {
    const int32_t pr = c * r2 + k0;
    const int32_t n = efm_ssat8(efm_smmlar(pr, k->mn, k->kn + ((pr >> 31) & f->normalized.sign)) >> k->en);
    const int32_t v = n * t[0] + t[1];
    const int32_t s = efm_ssat8(efm_smmlar(v, t[3], t[2] + (v >> 31)) >> t[4]);
    int64_t acc = (int64_t)(((uint64_t)(uint32_t)t[7] << 32) | (uint32_t)t[6]);
    acc += (int64_t)(s * (1 << 8)) * t[5];
    return (int8_t)efm_ssat8((int32_t)(acc >> 32));
}

/* apply(v) with the flattened constants: SMMLAR(v << l, m, k + sign) >> e */
#define EFM_LNC_APPLY(K, P, V)                                                                                 \
    ({                                                                                                          \
        const int32_t v2_ = (V) * (1 << (K)->P##l);                                                             \
        efm_smmlar(v2_, (K)->P##m, (K)->P##k + ((v2_ >> 31) & (K)->P##s)) >> (K)->P##e;                         \
    })

/* The normalization pass of one row (square_form 0): the asm of its form, and an odd last element in C (with
 * the sign corrections: exact in every form). */
static inline void efm_lnc_norm(const efm_lnc_k *k, efm_lnc_nargs *a, const int8_t *x, int8_t *y, int32_t b2,
                                int32_t r2, int32_t k0, int32_t nsign) {
    const int32_t ch = k->ch;
    if (ch >= 2) { /* a: the per-call fields set by efm_lnc_k_init */
        a->x = x;
        a->y = y;
        a->b2 = b2;
        a->r2 = r2;
        a->k0 = k0;
        a->xe = x + (ch & ~1);
        switch (k->form) { /* direct calls: the static stack bound holds */
        case 0: efm_lnc_norm_0(a); break;
        case 1: efm_lnc_norm_1(a); break;
        case 2: efm_lnc_norm_2(a); break;
        case 3: efm_lnc_norm_3(a); break;
        case 4: case 6: efm_lnc_norm_4(a); break;
        default: efm_lnc_norm_5(a); break;
        }
    }
    if (ch & 1) {
        const int32_t vc = k->ct[x[ch - 1]] - b2;
        const int32_t c = efm_ssat8(efm_smmlar(vc, k->mc, k->kc + (vc >> 31)) >> k->ec);
        const int32_t pr = c * r2 + k0;
        y[ch - 1] = (int8_t)efm_ssat8(efm_smmlar(pr, k->mn, k->kn + ((pr >> 31) & nsign)) >> k->en);
    }
}

/* One row (square_form 0) from its sum: the per-row scalars, the squares, the normalization (asm, by form), the
 * gamma / beta tail. */
static inline __attribute__((always_inline)) void efm_lnc_row_sd(const efm_layer_norm_chain_params *p,
                                                                 const efm_lnc_fast *f, const efm_lnc_k *k,
                                                                 efm_lnc_args *a, const int8_t *x, int32_t total,
                                                                 int8_t *y) {
    const int32_t ch = k->ch;
    int32_t v2;
    v2 = (total - k->zm) * (1 << k->lm);
    const int32_t m = efm_ssat8(efm_smmlar(v2, k->mm, k->km + ((v2 >> 31) & k->sm)) >> k->em);
    v2 = (m - k->zc) * (1 << k->lc);
    const int32_t b2 = 2 * (efm_smmlar(v2, k->mcb, k->kcb + ((v2 >> 31) & k->scb)) >> k->ecb);
    v2 = (m - k->zs) * (1 << k->ls);
    const uint32_t bb = efm_rep2(efm_smmlar(v2, k->msb, k->ksb + ((v2 >> 31) & k->ssb)) >> k->esb);
    const uint32_t *sqt = k->sqt;
    const int32_t ms = k->ms, ks = k->ks, es = k->es;
    int32_t squares = 0, i = 0;
    for (; i < (ch & 3); i++) { /* d = t - b in both halves (|d| < 2^15), 2 d^2 by SMUAD */
        const uint32_t dd = efm_ssub16(sqt[x[i]], bb);
        squares += efm_ssat8(efm_smmlar(efm_smuad(dd, dd), ms, ks) >> es);
    }
    if (ch >= 4) { /* then four per iteration */
        const int8_t *xp = x + i, *xe = x + ch;
        int32_t t;
#define EFM_LNC_SQ1                                                                                            \
    "ldrsb %[t], [%[x]], #1\n\t"                                                                                \
    "ldr %[t], [%[sqt], %[t], lsl #2]\n\t"                                                                      \
    "ssub16 %[t], %[t], %[bb]\n\t"                                                                              \
    "smuad %[t], %[t], %[t]\n\t"                                                                                \
    "smmlar %[t], %[t], %[ms], %[ks]\n\t"                                                                       \
    "asr %[t], %[t], %[es]\n\t"                                                                                 \
    "ssat %[t], #8, %[t]\n\t"                                                                                   \
    "add %[sum], %[sum], %[t]\n\t"
        __asm__ volatile("1:\n\t" EFM_LNC_SQ1 EFM_LNC_SQ1 EFM_LNC_SQ1 EFM_LNC_SQ1
                         "cmp %[x], %[xe]\n\t"
                         "bne 1b\n\t"
                         : [x] "+&r"(xp), [sum] "+&r"(squares), [t] "=&r"(t)
                         : [xe] "r"(xe), [sqt] "r"(sqt), [bb] "r"(bb), [ms] "r"(ms), [ks] "r"(ks), [es] "r"(es)
                         : "cc", "memory");
#undef EFM_LNC_SQ1
    }
    v2 = (squares - k->zv) * (1 << k->lv);
    const int32_t v = efm_ssat8(efm_smmlar(v2, k->mv, k->kv + ((v2 >> 31) & k->sv)) >> k->ev);
    const int32_t r2 = (k->rsqrt[v] - k->zr) * (1 << k->lr);
    const int32_t k0 = -k->zna * r2;
    if (k->fused) {
        if (ch >= 2) { /* fa: the per-call fields set by efm_lnc_k_init */
            efm_lnc_fargs *fa = &a->fused;
            fa->xe = x + (ch & ~1);
            fa->x = x;
            fa->y = y;
            fa->b2 = b2;
            fa->r2 = r2;
            fa->k0 = k0;
            switch (k->form) { /* direct calls: the static stack bound holds */
            case 0: efm_lnc_fused_0(fa); break;
            case 1: efm_lnc_fused_1(fa); break;
            case 2: efm_lnc_fused_2(fa); break;
            case 3: efm_lnc_fused_3(fa); break;
            case 4: case 6: efm_lnc_fused_4(fa); break;
            default: efm_lnc_fused_5(fa); break;
            }
        }
        if (ch & 1) {
            const int32_t vc = k->ct[x[ch - 1]] - b2;
            const int32_t c = efm_ssat8(efm_smmlar(vc, k->mc, k->kc + (vc >> 31)) >> k->ec);
            y[ch - 1] = efm_lnc_fused_one(k, f, c, r2, k0, p->affine_table + 8 * (ch - 1));
        }
        return;
    }
    efm_lnc_norm(k, &a->norm, x, y, b2, r2, k0, f->normalized.sign);
    if (p->gamma_count || p->beta_count) {
        if (p->affine_table != NULL) {
            efm_lnc_tail(p, f, y);
        } else {
            efm_lnc_affine(p, f, y);
        }
    }
}

void efm_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *x, const int8_t *gamma,
                          const int8_t *beta, int8_t *y) {
    const int32_t ch = p->channels;
    efm_lnc_fast f;
    if (!efm_lnc_fast_params(p, &f)) {
        for (int32_t r = 0; r < p->rows; r++) {
            efm_lnc_row(p, x + r * ch, gamma, beta, y + r * ch);
        }
        return;
    }
    if (p->square_form == 0) {
        efm_lnc_k k;
        efm_lnc_args a;
        efm_lnc_k_init(p, &f, &k, &a);
        for (int32_t row = 0; row < p->rows; row++, x += ch, y += ch) {
            efm_lnc_row_sd(p, &f, &k, &a, x, efm_lnc_sum(x, ch), y);
        }
        return;
    }
    for (int32_t row = 0; row < p->rows; row++, x += ch, y += ch) {
        efm_lnc_fast_row(p, &f, x, efm_lnc_sum(x, ch), y);
    }
}

/* The residual ADD: twice the rescaled a and b from two tables, their sum requantized (SMMLAR, e > 0), stored and
 * summed for the row's mean. */
void efm_add_layer_norm_chain(const efm_layer_norm_chain_params *p, const int8_t *a, const int8_t *b,
                              const int8_t *gamma, const int8_t *beta, int8_t *s, int8_t *y) {
    const int32_t ch = p->channels;
    efm_lnc_fast f;
    efm_lnc_rq qa;
    const int32_t *res = p->residual;
    if (!efm_lnc_fast_params(p, &f) || p->residual_a_table == NULL || p->residual_b_table == NULL ||
        !efm_lnc_prepare(&qa, res[EFM_LNC_MULT], res[EFM_LNC_SHIFT], res[EFM_LNC_ZP], (int64_t)1 << 28) ||
        qa.left != 0 || qa.e == 0) {
        for (int32_t r = 0; r < p->rows; r++, a += ch, b += ch, s += ch, y += ch) {
            for (int32_t i = 0; i < ch; i++) {
                s[i] = efm_lnc_add(res, a[i], b[i]);
            }
            efm_lnc_row(p, s, gamma, beta, y);
        }
        return;
    }
    const int32_t *ta = p->residual_a_table + 128, *tb = p->residual_b_table + 128;
    EFM_LNC_OPAQUE(ta);
    EFM_LNC_OPAQUE(tb);
    const int32_t ma = qa.mult, ka = qa.k, ea = qa.e;
    efm_lnc_k k;
    efm_lnc_args args;
    if (p->square_form == 0) {
        efm_lnc_k_init(p, &f, &k, &args);
    }
    for (int32_t row = 0; row < p->rows; row++, a += ch, b += ch, s += ch, y += ch) {
        int32_t total = 0;
        #pragma GCC unroll 2
        for (int32_t i = 0; i < ch; i++) {
            const int32_t v = ta[a[i]] + tb[b[i]];
            const int32_t sv = efm_ssat8(efm_smmlar(v, ma, ka + (v >> 31)) >> ea);
            s[i] = (int8_t)sv;
            total += sv;
        }
        if (p->square_form == 0) {
            efm_lnc_row_sd(p, &f, &k, &args, s, total, y);
        } else {
            efm_lnc_fast_row(p, &f, s, total, y);
        }
    }
}

#endif
