/* Cortex-M DSP-extension intrinsics of the optimized kernels (ARMv7E-M: Cortex-M4/M7), written as inline assembly
 * so that no CMSIS headers are needed. Only compiled when __ARM_FEATURE_DSP is defined. */
#ifndef EFM_ARM_H
#define EFM_ARM_H

#include <stdint.h>
#include <string.h>

#ifndef __ARM_FEATURE_DSP
#error "the Cortex-M kernels need the DSP extension (__ARM_FEATURE_DSP); build the portable kernels instead"
#endif

/* Sign-extend bytes 0 and 2 of x to two int16 lanes. */
static inline uint32_t efm_sxtb16(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}

/* Sign-extend bytes 1 and 3 of x to two int16 lanes. */
static inline uint32_t efm_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi (int16 lanes): two multiply-accumulates in one instruction. */
static inline int32_t efm_smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* The high word of a * b (floor of the 64-bit product / 2^32). */
static inline int32_t efm_smmul(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* (a * b + 2^31) / 2^32 rounded down: the high word of the product, rounded. */
static inline int32_t efm_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* Four bytes from any address (an unaligned LDR on ARMv7-M). */
static inline uint32_t efm_load4(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Unpacks four int8 rows (row stride `stride`, 4 * groups values each) into int16 pairs for efm_dot4x1:
 * per group of four values, each row's (x0, x2) and (x1, x3) words, rows interleaved. */
static inline void efm_unpack4(const int8_t *x, int32_t stride, int32_t groups, uint32_t *dst) {
    for (int32_t g = 0; g < groups; g++) {
        for (int32_t i = 0; i < 4; i++) {
            const uint32_t v = efm_load4(x + i * stride + 4 * g);
            dst[0] = efm_sxtb16(v);
            dst[1] = efm_sxtb16_ror8(v);
            dst += 2;
        }
    }
}

#define EFM_DOT4_GROUP                                                                                          \
    "ldr %[w13], [%[w]], #4\n\t"                                                                                 \
    "ldmia %[xs]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"                                                            \
    "sxtb16 %[w02], %[w13]\n\t"                                                                                \
    "sxtb16 %[w13], %[w13], ror #8\n\t"                                                                        \
    "smlad %[a0], %[x0], %[w02], %[a0]\n\t"                                                                    \
    "smlad %[a0], %[x1], %[w13], %[a0]\n\t"                                                                    \
    "smlad %[a1], %[x2], %[w02], %[a1]\n\t"                                                                    \
    "smlad %[a1], %[x3], %[w13], %[a1]\n\t"                                                                    \
    "ldmia %[xs]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"                                                            \
    "smlad %[a2], %[x0], %[w02], %[a2]\n\t"                                                                    \
    "smlad %[a2], %[x1], %[w13], %[a2]\n\t"                                                                    \
    "smlad %[a3], %[x2], %[w02], %[a3]\n\t"                                                                    \
    "smlad %[a3], %[x3], %[w13], %[a3]\n\t"

/* Dot products of four unpacked rows (xs, interleaved) with one weight row, `groups` groups of four inputs: two
 * groups (32 MACs) per loop iteration, 28 instructions. The x registers are pinned (r4-r7) because LDM needs
 * its register list in ascending order; not inlined, so that the callers' register pressure cannot starve it. */
__attribute__((noinline, unused)) static void efm_dot4x1(const uint32_t *xs, const int8_t *w, int32_t groups,
                                                 int32_t acc[4]) {
    register uint32_t x0 __asm__("r4");
    register uint32_t x1 __asm__("r5");
    register uint32_t x2 __asm__("r6");
    register uint32_t x3 __asm__("r7");
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t w02, w13;
    int32_t pairs = groups >> 1;
    if (groups & 1) {
        __asm__ volatile(EFM_DOT4_GROUP
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xs] "+r"(xs), [w] "+r"(w),
                           [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [w02] "=&r"(w02),
                           [w13] "=&r"(w13)
                         :
                         : "memory");
    }
    if (pairs > 0) {
        __asm__ volatile("1:\n\t" EFM_DOT4_GROUP EFM_DOT4_GROUP
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xs] "+r"(xs), [w] "+r"(w),
                           [n] "+r"(pairs), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3),
                           [w02] "=&r"(w02), [w13] "=&r"(w13)
                         :
                         : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc + sum of the four unsigned byte differences |a_i - b_i| (b = 0: the sum of a's four bytes). */
static inline uint32_t efm_usada8(uint32_t a, uint32_t b, uint32_t acc) {
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* ---- Elementwise and row-wise kernels (kernels/arm/add.c, sub.c, mul.c, squared_difference.c, mean.c,
 * softmax.c, layer_norm.c, lut.c) ---- */

/* (acc * 2^32 + a * b + 2^31) >> 32: the rounded high word of the product plus acc. */
static inline int32_t efm_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Two dot products of int16 vectors (matrix-vector products: FULLY_CONNECTED and CONV_2D with fewer than four rows
 * or pixels): a0 += sum_k x[k] w0[k], a1 likewise, over `groups` groups of 8 values (x: 4 words of int16 pairs per
 * group; w: per group the 4 words of the first product, then the 4 of the second). Per group one LDM of x, two
 * LDM of w and eight SMLAD: 16 MACs in 13 instructions. */
static inline void efm_dot16x2(const void *x, const void *w, int32_t groups, int32_t *a0, int32_t *a1) {
    int32_t acc0 = *a0, acc1 = *a1;
    __asm__ volatile("1:\n\t"
                     "ldmia %[x]!, {r4, r5, r6, r7}\n\t"
                     "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
                     "smlad %[a0], r4, r8, %[a0]\n\t"
                     "smlad %[a0], r5, r9, %[a0]\n\t"
                     "smlad %[a0], r6, r10, %[a0]\n\t"
                     "smlad %[a0], r7, r11, %[a0]\n\t"
                     "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
                     "smlad %[a1], r4, r8, %[a1]\n\t"
                     "smlad %[a1], r5, r9, %[a1]\n\t"
                     "smlad %[a1], r6, r10, %[a1]\n\t"
                     "smlad %[a1], r7, r11, %[a1]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [x] "+r"(x), [w] "+r"(w), [n] "+r"(groups), [a0] "+r"(acc0), [a1] "+r"(acc1)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
    *a0 = acc0;
    *a1 = acc1;
}

/* Lane-wise a - b on two int16 lanes (wrapping). */
static inline uint32_t efm_ssub16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("ssub16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

/* a.lo * b.lo and a.hi * b.hi (int16 lanes, 32-bit products). */
static inline int32_t efm_smulbb(uint32_t a, uint32_t b) {
    int32_t r;
    __asm__("smulbb %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t efm_smultt(uint32_t a, uint32_t b) {
    int32_t r;
    __asm__("smultt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* x saturated to int8 [-128, 127]. */
static inline int32_t efm_ssat8(int32_t x) {
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x) : "cc");
    return r;
}

/* acc + the sign-extended bytes 0 and 2 (resp. 1 and 3) of x, on two int16 lanes. */
static inline uint32_t efm_sxtab16(uint32_t acc, uint32_t x) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}

static inline uint32_t efm_sxtab16_ror8(uint32_t acc, uint32_t x) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}

/* Four int8 values (int32 already in [-128, 127]) packed into one little-endian word. */
static inline uint32_t efm_pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3) {
    uint32_t r = (uint32_t)v0;
    __asm__("bfi %0, %1, #8, #8\n\t"
            "bfi %0, %2, #16, #8\n\t"
            "bfi %0, %3, #24, #8"
            : "+r"(r)
            : "r"(v1), "r"(v2), "r"(v3));
    return r;
}

/* Each int8 lane of x clamped to [lo, hi] (lo4, hi4: the bounds replicated in the four bytes). */
static inline uint32_t efm_clamp_s8x4(uint32_t x, uint32_t lo4, uint32_t hi4) {
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel %0, %0, %2\n\t"
            "ssub8 %1, %0, %3\n\t"
            "sel %0, %3, %0"
            : "+r"(x), "=&r"(t)
            : "r"(lo4), "r"(hi4)
            : "cc");
    return x;
}

static inline uint32_t efm_rep4(int32_t v) {
    return ((uint32_t)v & 0xFFu) * 0x01010101u;
}

static inline uint32_t efm_rep2(int32_t v) {
    return ((uint32_t)v & 0xFFFFu) * 0x00010001u;
}

/* Row driver of the binary elementwise kernels: runs ROW(CTX, a, b, y, n, sa, sb) (a direct call: no function
 * pointers, so that the static stack bound holds) once per run of the last (merged) output axis, where the input
 * strides sa, sb are 0 (broadcast) or 1, and sets OK to 1; OK is 0 (nothing done) when the last axis has another
 * stride. */
#define EFM_EW_ROWS(OK, NDIM, COUNT, STRIDE_A, STRIDE_B, A, B, Y, ROW, CTX)                                      \
    do {                                                                                                        \
        const int32_t nd_ = (NDIM);                                                                             \
        const int32_t n_ = nd_ > 0 ? (COUNT)[nd_ - 1] : 1;                                                      \
        const int32_t sa_ = nd_ > 0 ? (STRIDE_A)[nd_ - 1] : 0, sb_ = nd_ > 0 ? (STRIDE_B)[nd_ - 1] : 0;         \
        (OK) = (uint32_t)sa_ <= 1u && (uint32_t)sb_ <= 1u;                                                      \
        int32_t idx_[8] = {0};                                                                                  \
        int32_t ia_ = 0, ib_ = 0, empty_ = !(OK);                                                               \
        int8_t *y_ = (Y);                                                                                       \
        for (int32_t d_ = 0; d_ < nd_; d_++) {                                                                  \
            empty_ |= (COUNT)[d_] == 0;                                                                         \
        }                                                                                                       \
        while (!empty_) {                                                                                       \
            ROW((CTX), (A) + ia_, (B) + ib_, y_, n_, sa_, sb_);                                                 \
            y_ += n_;                                                                                           \
            int32_t d_ = nd_ - 2;                                                                               \
            for (; d_ >= 0; d_--) {                                                                             \
                idx_[d_]++;                                                                                     \
                ia_ += (STRIDE_A)[d_];                                                                          \
                ib_ += (STRIDE_B)[d_];                                                                          \
                if (idx_[d_] < (COUNT)[d_]) {                                                                   \
                    break;                                                                                      \
                }                                                                                               \
                ia_ -= (STRIDE_A)[d_] * (COUNT)[d_];                                                            \
                ib_ -= (STRIDE_B)[d_] * (COUNT)[d_];                                                            \
                idx_[d_] = 0;                                                                                   \
            }                                                                                                   \
            if (d_ < 0) {                                                                                       \
                break;                                                                                          \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)

/* The binary ops' part: compiled where kernels/binary.h was included first. */
#ifdef EFM_BINARY_H

/* ADD, SUB and SQUARED_DIFFERENCE (kernels/arm/add.c, sub.c, squared_difference.c) in 32-bit operations.
 *
 * Each input is rescaled as t = mbqm(c << L, M, -e) with c = x - zp (L = 20 for ADD/SUB, 7 for
 * SQUARED_DIFFERENCE). gemmlowp's SaturatingRoundingDoublingHighMul of v = c << L (never INT32_MIN) is
 * floor((2 v M + 2^31) / 2^32) = SMMULR(c << (L + 1), M), and the rounding divide by 2^e (half away from zero)
 * is (u + 2^(e-1) - [u < 0]) >> e, where u < 0 exactly when c < 0:
 *     t = (SMMLAR(cs, M, 2^(e-1)) + (cs >> 31)) >> e,  cs = c << (L + 1).
 * The input of the larger scale has M = 2^30, e = 0, so t = c << (L - 1) (the "big" input, a shift). The other
 * one (the "general" input) is a function of its 8-bit value alone: with enough elements the kernel tabulates it
 * once per call on the stack (256 words), folded with the big input's zero point, so that per element
 *     s2 = 2 (ta +- tb) = T[xg] +- xbig 2^L               (ADD, SUB: |s2| < 2^30, one MLA)
 *     d = T[xg] - xbig 2^(L-1), s2 = 2 d^2                (SQUARED_DIFFERENCE: 2 d^2 < 2^31)
 * and the output is (SMMLAR(s2, Mo, 2^(eo-1) + (zp << eo)) + (s2 >> 31)) >> eo, saturated to int8 and clamped:
 * the sign of s2 stands for the sign of the high product (they differ only for s2 = -2, Mo = 2^30, which rounds
 * to 0 either way when eo >= 1). Parameters outside these bounds take the kernel's generic 64-bit loop. */
typedef struct {
    int32_t mg, rg, eg;  /* general input's rescale in SMMLAR form */
    int32_t zpg, zpbig;  /* zero points of the general and the big input */
    int32_t big_is_a;    /* the big input is input 0 */
    int32_t kb;          /* s2 (or d) = T[xg] + kb xbig: 2^20, -2^20 (SUB, big input second), -2^6 (SQD) */
    int32_t ps, fm, fa;  /* table entry T[x] = fm t(x) + fa, t from ((x - zpg) << ps) */
    int32_t mo, co, eo;  /* output: multiplier, rounding + zero point << eo, shift */
    int32_t lo, hi;      /* activation range within int8 */
    uint32_t lo4, hi4;
    int32_t clamp;       /* the activation range is narrower than int8 */
    int32_t op;          /* EFM_EW_ADD, EFM_EW_SUB, EFM_EW_SQD */
    const int32_t *table; /* T[x + 128], or NULL: computed per element */
} efm_ew_q;

#define EFM_EW_ADD 0
#define EFM_EW_SUB 1
#define EFM_EW_SQD 2
#define EFM_EW_ALWAYS static inline __attribute__((always_inline))

/* The general input's rescale in SMMLAR form; 0 when outside the fast path's bounds. */
static inline int efm_ew_in_setup(int32_t mult, int32_t shift, efm_ew_q *q) {
    if (shift == 0 && mult == (1 << 30)) { /* as big as the other input: t = c << (L - 1) */
        q->mg = 0x7FFFFFFF; /* SMMLAR(c << (L + 1), 2^31 - 1, 1) = (c << L) + 1, then >> 1 */
        q->rg = 1;
        q->eg = 1;
        return 1;
    }
    if (shift > -1 || shift < -24 || mult < (1 << 30)) {
        return 0;
    }
    q->mg = mult;
    q->eg = -shift;
    q->rg = 1 << (-shift - 1);
    return 1;
}

/* The table entry of the general input's value x: its rescale t times fm plus fa (efm_ew_setup):
 *     ADD: 2 t - (zpb << 20), SUB with the big input first: -2 t - (zpa << 20), second: 2 t + (zpb << 20),
 *     SQUARED_DIFFERENCE: t + (zpbig << 6). */
EFM_EW_ALWAYS int32_t efm_ew_entry(const efm_ew_q *q, int32_t x) {
    const int32_t cs = (int32_t)((uint32_t)(x - q->zpg) << q->ps);
    const int32_t t = (efm_smmlar(cs, q->mg, q->rg) + (cs >> 31)) >> q->eg;
    return t * q->fm + q->fa;
}

/* The fast path's constants of a binary op's parameters; 0 when they are outside its bounds. */
static inline int efm_ew_setup(const efm_binary_params *p, int32_t op, efm_ew_q *q) {
    q->op = op;
    q->table = 0;
    if (p->left_shift != (op == EFM_EW_SQD ? 7 : 20)) {
        return 0;
    }
    q->big_is_a = p->a_shift == 0 && p->a_mult == (1 << 30);
    if (!q->big_is_a && !(p->b_shift == 0 && p->b_mult == (1 << 30))) {
        return 0;
    }
    if (!efm_ew_in_setup(q->big_is_a ? p->b_mult : p->a_mult, q->big_is_a ? p->b_shift : p->a_shift, q)) {
        return 0;
    }
    q->zpg = q->big_is_a ? p->b_zp : p->a_zp;
    q->zpbig = q->big_is_a ? p->a_zp : p->b_zp;
    q->kb = op == EFM_EW_SQD ? -64 : (op == EFM_EW_SUB && !q->big_is_a ? -(1 << 20) : 1 << 20);
    q->ps = op == EFM_EW_SQD ? 8 : 21;
    if (op == EFM_EW_SQD) {
        q->fm = 1;
        q->fa = (int32_t)((uint32_t)q->zpbig << 6);
    } else {
        const int32_t zb = (int32_t)((uint32_t)q->zpbig << 20);
        q->fm = op == EFM_EW_SUB && q->big_is_a ? -2 : 2;
        q->fa = op == EFM_EW_SUB ? (q->big_is_a ? -zb : zb) : -zb;
    }
    if (p->out_shift > -1 || p->out_shift < -23 || p->out_mult < (1 << 30)) {
        return 0;
    }
    q->mo = p->out_mult;
    q->eo = -p->out_shift;
    q->co = (1 << (q->eo - 1)) + (int32_t)((uint32_t)p->output_zp << q->eo);
    q->lo = p->act_min < -128 ? -128 : p->act_min;
    q->hi = p->act_max > 127 ? 127 : p->act_max;
    q->lo4 = efm_rep4(q->lo);
    q->hi4 = efm_rep4(q->hi);
    q->clamp = q->lo > -128 || q->hi < 127;
    return q->lo <= q->hi;
}

/* Fills table[256] (T[x + 128]) and points q at it. */
static inline void efm_ew_fill(efm_ew_q *q, int32_t *table) {
    for (int32_t x = -128; x < 128; x++) {
        table[x + 128] = efm_ew_entry(q, x);
    }
    q->table = table + 128;
}

/* Output value (result + zero point, not saturated) of g (the table entry) and xb (the big input's value). */
EFM_EW_ALWAYS int32_t efm_ew_val(int32_t g, int32_t xb, int32_t kb, int32_t mo, int32_t co, int32_t eo,
                                 const int32_t op) {
    if (op == EFM_EW_SQD) {
        const int32_t d = g + xb * kb;
        return efm_smmlar(d * d * 2, mo, co) >> eo;
    }
    const int32_t s2 = g + xb * kb;
    return (efm_smmlar(s2, mo, co) + (s2 >> 31)) >> eo;
}

EFM_EW_ALWAYS int8_t efm_ew_final(int32_t v, const efm_ew_q *q) {
    v = efm_ssat8(v);
    return (int8_t)(v < q->lo ? q->lo : (v > q->hi ? q->hi : v));
}

#define EFM_EW_STORE4(V0, V1, V2, V3)                                                                           \
    do {                                                                                                        \
        uint32_t w_ = efm_pack4(efm_ssat8(V0), efm_ssat8(V1), efm_ssat8(V2), efm_ssat8(V3));                    \
        if (q->clamp) {                                                                                         \
            w_ = efm_clamp_s8x4(w_, q->lo4, q->hi4);                                                            \
        }                                                                                                       \
        memcpy(y, &w_, 4);                                                                                      \
    } while (0)

/* One row of n outputs from g (general input, stride sg) and b (big input, stride sbig), strides in {0, 1}. */
EFM_EW_ALWAYS void efm_ew_row_t(const efm_ew_q *q, const int8_t *g, const int8_t *b, int8_t *y, int32_t n,
                                int32_t sg, int32_t sbig, const int32_t op) {
    const int32_t mo = q->mo, co = q->co, eo = q->eo, kb = q->kb;
    const int32_t *t = q->table;
    if (sg == 0) {
        const int32_t gv = t ? t[*g] : efm_ew_entry(q, *g);
        if (sbig == 0) {
            memset(y, efm_ew_final(efm_ew_val(gv, *b, kb, mo, co, eo, op), q), (size_t)n);
            return;
        }
        for (; n >= 4; n -= 4, b += 4, y += 4) {
            EFM_EW_STORE4(efm_ew_val(gv, b[0], kb, mo, co, eo, op), efm_ew_val(gv, b[1], kb, mo, co, eo, op),
                          efm_ew_val(gv, b[2], kb, mo, co, eo, op), efm_ew_val(gv, b[3], kb, mo, co, eo, op));
        }
    } else if (t && sbig == 0) {
        const int32_t xb = *b;
        for (; n >= 4; n -= 4, g += 4, y += 4) {
            EFM_EW_STORE4(efm_ew_val(t[g[0]], xb, kb, mo, co, eo, op), efm_ew_val(t[g[1]], xb, kb, mo, co, eo, op),
                          efm_ew_val(t[g[2]], xb, kb, mo, co, eo, op), efm_ew_val(t[g[3]], xb, kb, mo, co, eo, op));
        }
    } else if (t) {
        for (; n >= 4; n -= 4, g += 4, b += 4, y += 4) {
            EFM_EW_STORE4(efm_ew_val(t[g[0]], b[0], kb, mo, co, eo, op), efm_ew_val(t[g[1]], b[1], kb, mo, co, eo, op),
                          efm_ew_val(t[g[2]], b[2], kb, mo, co, eo, op), efm_ew_val(t[g[3]], b[3], kb, mo, co, eo, op));
        }
    }
    /* Tails, and rows without a table (few elements): one element at a time. */
    for (; n > 0; n--, g += sg, b += sbig, y++) {
        *y = efm_ew_final(efm_ew_val(t ? t[*g] : efm_ew_entry(q, *g), *b, kb, mo, co, eo, op), q);
    }
}

/* A row given as (a, b); the template (variant V: EFM_EW_ADD for ADD and SUB, EFM_EW_SQD) takes (general, big). */
#define efm_ew_row_add(Q, A, B, Y, N, SA, SB)                                                                   \
    efm_ew_row_t((Q), (Q)->big_is_a ? (B) : (A), (Q)->big_is_a ? (A) : (B), (Y), (N), (Q)->big_is_a ? (SB) : (SA), \
                 (Q)->big_is_a ? (SA) : (SB), EFM_EW_ADD)
#define efm_ew_row_sqd(Q, A, B, Y, N, SA, SB)                                                                   \
    efm_ew_row_t((Q), (Q)->big_is_a ? (B) : (A), (Q)->big_is_a ? (A) : (B), (Y), (N), (Q)->big_is_a ? (SB) : (SA), \
                 (Q)->big_is_a ? (SA) : (SB), EFM_EW_SQD)

/* Runs an ADD, SUB or SQUARED_DIFFERENCE (op) in the fast path; 0 (nothing written) when its parameters are
 * outside it. SUB runs ADD's code (its sign is in the table and in kb). A weak external definition, the same in
 * kernel file that defines EFM_EW_ADDLIKE before including this header: the linker keeps one copy for the three
 * ops. */
#ifdef EFM_EW_ADDLIKE
__attribute__((weak)) int efm_ew_addlike(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y,
                                         int32_t op);
__attribute__((weak)) int efm_ew_addlike(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y,
                                         int32_t op) {
    efm_ew_q q;
    if (!efm_ew_setup(p, op, &q)) {
        return 0;
    }
    const int32_t nd = p->ndim;
    const int32_t sg = nd > 0 ? (q.big_is_a ? p->stride_b : p->stride_a)[nd - 1] : 0;
    int32_t total = 1;
    for (int32_t d = 0; d < nd; d++) {
        total *= p->count[d];
    }
    int32_t table[256];
    if (p->ew_table != 0) {
        q.table = p->ew_table + 128; /* precomputed by the emitter (small ops) */
    } else if (sg == 1 && total >= 128) {
        efm_ew_fill(&q, table);
    }
    int ok;
    if (op == EFM_EW_SQD) {
        EFM_EW_ROWS(ok, p->ndim, p->count, p->stride_a, p->stride_b, x1, x2, y, efm_ew_row_sqd, &q);
    } else {
        EFM_EW_ROWS(ok, p->ndim, p->count, p->stride_a, p->stride_b, x1, x2, y, efm_ew_row_add, &q);
    }
    return ok;
}
#endif

/* MUL (kernels/arm/mul.c): prod = (xa - zpa) (xb - zpb) from SXTB16 / SSUB16 lanes and SMULBB / SMULTT, then
 * mbqm(prod, Mo, sh) in SMMLAR form: for sh < 0, (SMMLAR(2 prod, Mo, 2^(e-1) + (zp << e)) + (prod >> 31)) >> e
 * with e = -sh (as for ADD); for sh >= 0 (multipliers of 0.5 and above), SMMLAR(prod << (sh + 1), Mo, zp) when the
 * largest |prod| << (sh + 1) stays below 2^31 (no wrap, no saturation). */
typedef struct {
    uint32_t zpa2, zpb2;
    int32_t zpa, zpb;
    int32_t mo, co, eo, left;
    int32_t lo, hi;
    uint32_t lo4, hi4;
    int32_t clamp, round;
} efm_mul_q;

static inline int efm_mul_setup(const efm_binary_params *p, efm_mul_q *q) {
    const int32_t sh = p->out_shift, m = p->out_mult;
    if (!(m >= (1 << 30) || (m == 0 && sh == 0)) || sh < -23 || sh > 30) {
        return 0;
    }
    q->zpa = p->a_zp;
    q->zpb = p->b_zp;
    q->zpa2 = efm_rep2(p->a_zp);
    q->zpb2 = efm_rep2(p->b_zp);
    q->mo = m;
    q->round = sh < 0;
    if (sh < 0) {
        q->eo = -sh;
        q->left = 1;
        q->co = (1 << (q->eo - 1)) + (int32_t)((uint32_t)p->output_zp << q->eo);
    } else {
        const int64_t ma = p->a_zp + 128 > 127 - p->a_zp ? p->a_zp + 128 : 127 - p->a_zp;
        const int64_t mb = p->b_zp + 128 > 127 - p->b_zp ? p->b_zp + 128 : 127 - p->b_zp;
        if (((ma * mb) << (sh + 1)) >= ((int64_t)1 << 31)) {
            return 0;
        }
        q->eo = 0;
        q->left = sh + 1;
        q->co = p->output_zp;
    }
    q->lo = p->act_min < -128 ? -128 : p->act_min;
    q->hi = p->act_max > 127 ? 127 : p->act_max;
    q->lo4 = efm_rep4(q->lo);
    q->hi4 = efm_rep4(q->hi);
    q->clamp = q->lo > -128 || q->hi < 127;
    return q->lo <= q->hi;
}

EFM_EW_ALWAYS int32_t efm_mul_val(int32_t prod, int32_t mo, int32_t co, int32_t eo, int32_t left,
                                  const int32_t round) {
    if (round) {
        return (efm_smmlar(prod * 2, mo, co) + (prod >> 31)) >> eo;
    }
    return efm_smmlar((int32_t)((uint32_t)prod << left), mo, co);
}

EFM_EW_ALWAYS int8_t efm_mul_final(int32_t v, const efm_mul_q *q) {
    v = efm_ssat8(v);
    return (int8_t)(v < q->lo ? q->lo : (v > q->hi ? q->hi : v));
}

/* One row of MUL (sa, sb in {0, 1}). */
EFM_EW_ALWAYS void efm_mul_row_t(const efm_mul_q *q, const int8_t *a, const int8_t *b, int8_t *y, int32_t n,
                                 int32_t sa, int32_t sb, const int32_t round) {
    const int32_t mo = q->mo, co = q->co, eo = q->eo, left = q->left;
    if (sa == 0 && sb == 0) {
        memset(y, efm_mul_final(efm_mul_val((*a - q->zpa) * (*b - q->zpb), mo, co, eo, left, round), q),
               (size_t)n);
        return;
    }
    /* Blocks of four: a vector against another (both lanes words from memory) or against one value k (its
     * lanes word built once). */
    const int32_t blocks = n >> 2;
    int8_t *yy = y;
#define EFM_MUL_BLOCK(A02, A13, B02, B13)                                                                       \
    do {                                                                                                        \
        const int32_t v0_ = efm_ssat8(efm_mul_val(efm_smulbb(A02, B02), mo, co, eo, left, round));              \
        const int32_t v1_ = efm_ssat8(efm_mul_val(efm_smulbb(A13, B13), mo, co, eo, left, round));              \
        const int32_t v2_ = efm_ssat8(efm_mul_val(efm_smultt(A02, B02), mo, co, eo, left, round));              \
        const int32_t v3_ = efm_ssat8(efm_mul_val(efm_smultt(A13, B13), mo, co, eo, left, round));              \
        uint32_t o_ = efm_pack4(v0_, v1_, v2_, v3_);                                                            \
        if (q->clamp) {                                                                                         \
            o_ = efm_clamp_s8x4(o_, q->lo4, q->hi4);                                                            \
        }                                                                                                       \
        memcpy(yy, &o_, 4);                                                                                     \
    } while (0)
    if (sa && sb) {
        const int8_t *va = a, *vb = b;
        const uint32_t zpa2 = q->zpa2, zpb2 = q->zpb2;
        for (int32_t i = 0; i < blocks; i++, va += 4, vb += 4, yy += 4) {
            const uint32_t wa = efm_load4(va), wb = efm_load4(vb);
            EFM_MUL_BLOCK(efm_ssub16(efm_sxtb16(wa), zpa2), efm_ssub16(efm_sxtb16_ror8(wa), zpa2),
                          efm_ssub16(efm_sxtb16(wb), zpb2), efm_ssub16(efm_sxtb16_ror8(wb), zpb2));
        }
    } else {
        const int8_t *v = sa ? a : b;
        const uint32_t zpv2 = sa ? q->zpa2 : q->zpb2;
        const uint32_t k2 = efm_rep2(sa ? *b - q->zpb : *a - q->zpa);
        for (int32_t i = 0; i < blocks; i++, v += 4, yy += 4) {
            const uint32_t w = efm_load4(v);
            EFM_MUL_BLOCK(efm_ssub16(efm_sxtb16(w), zpv2), efm_ssub16(efm_sxtb16_ror8(w), zpv2), k2, k2);
        }
    }
#undef EFM_MUL_BLOCK
    a += 4 * blocks * sa;
    b += 4 * blocks * sb;
    y = yy;
    for (n -= 4 * blocks; n > 0; n--, a += sa, b += sb, y++) {
        *y = efm_mul_final(efm_mul_val((*a - q->zpa) * (*b - q->zpb), mo, co, eo, left, round), q);
    }
}

#endif /* EFM_BINARY_H */

/* ---- matrix products (FULLY_CONNECTED, BATCH_MATMUL) ---- */

/* (efm_ssat8 is defined with the elementwise helpers above.) */

/* acc[0..3] += the dot products of four unpacked rows (xs, efm_unpack4's layout) with the int8 row w, `groups`
 * groups of four values: four groups (64 MACs) per loop iteration, 54 instructions; the groups % 4 first ones one
 * at a time. The accumulators come in initialized (bias or zero-point terms), so callers add nothing after. */
__attribute__((noinline, unused)) static void efm_dot4x1_acc(const uint32_t *xs, const int8_t *w, int32_t groups,
                                                             int32_t acc[4]) {
    register uint32_t x0 __asm__("r4");
    register uint32_t x1 __asm__("r5");
    register uint32_t x2 __asm__("r6");
    register uint32_t x3 __asm__("r7");
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t w02, w13;
    for (int32_t g = groups & 3; g > 0; g--) {
        __asm__ volatile(EFM_DOT4_GROUP
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xs] "+r"(xs), [w] "+r"(w),
                           [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [w02] "=&r"(w02),
                           [w13] "=&r"(w13)
                         :
                         : "memory");
    }
    int32_t quads = groups >> 2;
    if (quads > 0) {
        __asm__ volatile("1:\n\t" EFM_DOT4_GROUP EFM_DOT4_GROUP EFM_DOT4_GROUP EFM_DOT4_GROUP
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xs] "+r"(xs), [w] "+r"(w),
                           [n] "+r"(quads), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3),
                           [w02] "=&r"(w02), [w13] "=&r"(w13)
                         :
                         : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* ---- register-blocked panels: R = 4 or 6 unpacked rows x every column of an int8 matrix ----
 *
 * A panel computes R rows of outputs against all columns in one inline-assembly loop (fully_connected.c and
 * batch_matmul.c wrap it with their own accumulator set-up and requantization). Registers: r0 the unpacked rows
 * (efm_unpack_rows' layout), r1 the current column's int8 values, r2/r3 the column word's two halves (SXTB16),
 * r4-r7 unpacked row values (LDM), the accumulators r8-r11 (R = 4) or r8-r12, lr (R = 6). Per group of four depth
 * values: one LDR, two SXTB16, R/2 LDM, 2R SMLAD (13 instructions for R = 4, 18 for R = 6: 0.75 per MAC). Eight
 * groups per loop iteration; the first pass enters the unrolled body through a TBH table at the copy that leaves
 * groups % 8 groups, and the loop ends on a sentinel word after the unpacked rows (no counter register). */

/* The word after the last unpacked group: lanes -32768 never occur in sign-extended int8 data. */
#define EFM_PANEL_SENTINEL 0x80008000u

#define EFM_PG_HEAD "ldr r2, [r1], #4\n\t" "sxtb16 r3, r2\n\t" "sxtb16 r2, r2, ror #8\n\t"
#define EFM_PG_PAIR(a, b)                                                                                       \
    "ldmia r0!, {r4-r7}\n\t" "smlad " a ", r4, r3, " a "\n\t" "smlad " a ", r5, r2, " a "\n\t"               \
    "smlad " b ", r6, r3, " b "\n\t" "smlad " b ", r7, r2, " b "\n\t"
#define EFM_PG4 EFM_PG_HEAD EFM_PG_PAIR("r8", "r9") EFM_PG_PAIR("r10", "r11")
#define EFM_PG6 EFM_PG4 EFM_PG_PAIR("r12", "lr")

/* The dot-product loop of a panel (label 5: dispatch on r4 = groups % EFM_PANEL_UNROLL; r0, r1 and the
 * accumulators set): eight copies of the group, entered through a TBH table. */
#define EFM_PANEL_UNROLL 8
#define EFM_PANEL_LOOP(G)                                                                                       \
    "5:\n\t"                                                                                                    \
    "tbh [pc, r4, lsl #1]\n\t"                                                                                  \
    "6:\n\t"                                                                                                    \
    ".hword (10f - 6b) / 2, (17f - 6b) / 2, (16f - 6b) / 2, (15f - 6b) / 2\n\t"                                 \
    ".hword (14f - 6b) / 2, (13f - 6b) / 2, (12f - 6b) / 2, (11f - 6b) / 2\n\t"                                 \
    "10:\n\t" G "11:\n\t" G "12:\n\t" G "13:\n\t" G "14:\n\t" G "15:\n\t" G "16:\n\t" G "17:\n\t" G         \
    "ldr r4, [r0]\n\t"                                                                                          \
    "cmp r4, #0x80008000\n\t"                                                                                   \
    "bne 10b\n\t"

/* Stores the int8 results of the accumulators to r2 + i * r3 (uses r4). */
#define EFM_PANEL_STORE4                                                                                        \
    "strb r8, [r2]\n\t" "strb r9, [r2, r3]\n\t" "add r4, r2, r3, lsl #1\n\t" "strb r10, [r4]\n\t"             \
    "strb r11, [r4, r3]\n\t"
#define EFM_PANEL_STORE6 EFM_PANEL_STORE4 "add r4, r4, r3, lsl #1\n\t" "strb r12, [r4]\n\t" "strb lr, [r4, r3]\n\t"

/* Unpacks `rows` int8 rows (row stride `stride`, 4 * groups values each) into int16 pairs for the panels: per
 * group of four values, each row's (x0, x2) and (x1, x3) words, rows in order; then the sentinel word. */
static inline void efm_unpack_rows(const int8_t *x, int32_t stride, int32_t groups, int32_t rows, uint32_t *dst) {
    for (int32_t g = 0; g < groups; g++) {
        const int8_t *xg = x + 4 * g;
        for (int32_t i = 0; i < rows; i++, xg += stride) {
            const uint32_t v = efm_load4(xg);
            dst[0] = efm_sxtb16(v);
            dst[1] = efm_sxtb16_ror8(v);
            dst += 2;
        }
    }
    dst[0] = EFM_PANEL_SENTINEL;
}

/* Bytes of panel scratch for up to `rows` rows (4 or 6) of `groups` groups, the sentinel included. */
#define EFM_PANEL_XS_BYTES(rows, groups) ((rows) * (groups) * 8 + 4)

/* Row blocks of the panels for `rows` rows: n6 blocks of six, then n4 of four; at most 3 rows are left over. */
static inline void efm_panel_blocks(int32_t rows, int32_t *n6, int32_t *n4) {
    int32_t a = rows / 6, left = rows % 6;
    if (left < 4 && left >= 2 && a > 0) {
        a--;
        left += 6;
    }
    *n6 = a;
    *n4 = left / 4;
}

/* ---- Helpers shared by the other kernels (conv, pooling, spiking, LMU, attention gate, hash attention) ---- */

/* ra + the high word of a * b (truncated). */
static inline int32_t efm_smmla(int32_t a, int32_t b, int32_t ra) {
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(ra));
    return r;
}

/* The top int16 of a times the bottom int16 of b. */
static inline int32_t efm_smultb(uint32_t a, uint32_t b) {
    int32_t r;
    __asm__("smultb %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* acc + bottom * bottom (resp. top * top) int16 halves of a and b. */
static inline int32_t efm_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

static inline int32_t efm_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Saturating 32-bit a + b and a - b. */
static inline int32_t efm_qadd(int32_t a, int32_t b) {
    int32_t r;
    __asm__("qadd %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t efm_qsub(int32_t a, int32_t b) {
    int32_t r;
    __asm__("qsub %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* Bytewise signed maximum / minimum of a and b (SSUB8 sets the GE flags, SEL picks). */
static inline uint32_t efm_max8(uint32_t a, uint32_t b) {
    uint32_t r, t;
    __asm__("ssub8 %1, %2, %3\n\t"
            "sel %0, %2, %3"
            : "=r"(r), "=&r"(t)
            : "r"(a), "r"(b)
            : "cc");
    return r;
}

static inline uint32_t efm_min8(uint32_t a, uint32_t b) {
    uint32_t r, t;
    __asm__("ssub8 %1, %3, %2\n\t"
            "sel %0, %2, %3"
            : "=r"(r), "=&r"(t)
            : "r"(a), "r"(b)
            : "cc");
    return r;
}

#endif
