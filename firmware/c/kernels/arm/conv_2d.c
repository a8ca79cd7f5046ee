/* CONV_2D for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/conv_2d.c.
 *
 * A matrix product over im2col columns: four output pixels at a time, each pixel's window (k_h k_w k_c values,
 * padding taps as the input zero point, the depth padded with zeros to K4, a multiple of 4) is unpacked into the
 * scratch as int16 pairs, doubled (2x), interleaved per group of four depth values like efm_unpack4. Every output
 * channel then runs the FULLY_CONNECTED kernel's loop: one weight word, unpacked once (SXTB16), feeds four pixels
 * (eight SMLAD per 16 MACs). The scratch holds four columns only (8 K4 bytes, plus K4 bytes of staging where the
 * window cannot be unpacked straight from the input) and the control words of the channel loop (one asm block:
 * dot products, requantization, the four stores, out_c stride). With three pixels left over after the blocks of
 * four, the last block ends at the last pixel, overlapping the previous block (it rewrites one output pixel with
 * the same bits); one or two left over, and fewer than four pixels in all, run one matrix-vector pass per pixel
 * (efm_cv_pixel1: two channels per pass; with int16 weights prepared at generation time where K4 is a multiple of
 * 8 and, for leftover pixels, the copy takes at most W16_TAIL_MAX_BYTES of flash (emitters/conv_2d.py): the column
 * compacted and efm_dot16x2, 16 MACs in 13 instructions).
 *
 * The input zero point is folded into the bias at generation time (padding taps read the zero point, so they add
 * nothing), and the emitter packs each output channel's row as 32-bit words
 *   {2 (bias - zp_x sum w), K4 weight bytes (zeros after K), M, 2^(R-1) + zp_y 2^R, R}
 * for the double-rounding requantization in 32 bits, exact for M * 2^-R with R >= 1 (the emitter checks it and
 * that |2 acc| < 2^31; where it does not hold, or for grouped convolutions, the generated code calls the portable
 * loop, efm_conv_2d_portable, instead): with a2 = 2 acc,
 *   y = (SMMLAR(a2, M, 2^(R-1) + zp_y 2^R - [a2 < 0])) >> R
 * is gemmlowp's SaturatingRoundingDoublingHighMul (round half up of a M / 2^31) followed by RoundingDivideByPOT
 * (half away from zero: the -[a2 < 0]) plus the output zero point, in one rounding of the 64-bit product. */
#ifdef EFM_ARM_CONV_2D

#include "conv_2d.h"
#include "efm_kernel.h"

/* efm_arm.h's FULLY_CONNECTED helpers are not used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop

static inline uint32_t efm_cv_sadd16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* `groups` words of int8 from src, unpacked (x0, x2), (x1, x3) and doubled, into column slot dst (stride 8). */
static void efm_cv_unpack(const int8_t *src, int32_t groups, uint32_t *dst) {
    for (; groups > 0; groups--) {
        const uint32_t v = efm_load4(src);
        const uint32_t lo = efm_sxtb16(v), hi = efm_sxtb16_ror8(v);
        src += 4;
        dst[0] = efm_cv_sadd16(lo, lo);
        dst[1] = efm_cv_sadd16(hi, hi);
        dst += 8;
    }
}

/* Four 1x1 columns at once: `groups` words of int8 from each of s0..s3 into the four slots of dst. */
static void efm_cv_unpack4(const int8_t *s0, const int8_t *s1, const int8_t *s2, const int8_t *s3, int32_t groups,
                           uint32_t *dst) {
    for (int32_t k = 0; k < 4 * groups; k += 4, dst += 8) {
        const uint32_t v0 = efm_load4(s0 + k), v1 = efm_load4(s1 + k), v2 = efm_load4(s2 + k);
        const uint32_t v3 = efm_load4(s3 + k);
        uint32_t t = efm_sxtb16(v0);
        dst[0] = efm_cv_sadd16(t, t);
        t = efm_sxtb16_ror8(v0);
        dst[1] = efm_cv_sadd16(t, t);
        t = efm_sxtb16(v1);
        dst[2] = efm_cv_sadd16(t, t);
        t = efm_sxtb16_ror8(v1);
        dst[3] = efm_cv_sadd16(t, t);
        t = efm_sxtb16(v2);
        dst[4] = efm_cv_sadd16(t, t);
        t = efm_sxtb16_ror8(v2);
        dst[5] = efm_cv_sadd16(t, t);
        t = efm_sxtb16(v3);
        dst[6] = efm_cv_sadd16(t, t);
        t = efm_sxtb16_ror8(v3);
        dst[7] = efm_cv_sadd16(t, t);
    }
}

/* `groups` groups of the input zero point (doubled pairs `zpw`) into column slot dst. */
static void efm_cv_fill(uint32_t zpw, int32_t groups, uint32_t *dst) {
    for (; groups > 0; groups--) {
        dst[0] = zpw;
        dst[1] = zpw;
        dst += 8;
    }
}

/* n bytes from src to d (words, then bytes); returns d + n. */
static inline int8_t *efm_cv_copy(int8_t *d, const int8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, d += 4, src += 4) {
        const uint32_t v = efm_load4(src);
        memcpy(d, &v, 4);
    }
    for (; n > 0; n--) {
        *d++ = *src++;
    }
    return d;
}

/* The window of output pixel (oy, ox) of image xn as column slot dst (groups of four depth values). */
static void efm_cv_column(const efm_conv_2d_params *p, const int8_t *xn, int32_t oy, int32_t ox, uint32_t *dst,
                          int8_t *stage, uint32_t zpw) {
    const int32_t cin = p->in_c, kw = p->k_w, in_w = p->in_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ix_last = ix0 + (kw - 1) * p->dil_w;
    const int h_inside = ix0 >= 0 && ix_last < in_w;
    switch (p->arm_cols) {
    case EFM_CONV_COL_1X1:
        efm_cv_unpack(xn + (iy0 * in_w + ix0) * cin, cin >> 2, dst);
        return;
    case EFM_CONV_COL_TAPS: {
        const int32_t tap_groups = cin >> 2, row_groups = kw * tap_groups;
        for (int32_t ky = 0; ky < p->k_h; ky++, dst += 8 * row_groups) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                efm_cv_fill(zpw, row_groups, dst);
            } else if (h_inside && p->dil_w == 1) {
                efm_cv_unpack(xn + (iy * in_w + ix0) * cin, row_groups, dst);
            } else {
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx * p->dil_w;
                    if (ix < 0 || ix >= in_w) {
                        efm_cv_fill(zpw, tap_groups, dst + 8 * kx * tap_groups);
                    } else {
                        efm_cv_unpack(xn + (iy * in_w + ix) * cin, tap_groups, dst + 8 * kx * tap_groups);
                    }
                }
            }
        }
        return;
    }
    case EFM_CONV_COL_ROWS: {
        const int32_t row_groups = (kw * cin) >> 2;
        for (int32_t ky = 0; ky < p->k_h; ky++, dst += 8 * row_groups) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                efm_cv_fill(zpw, row_groups, dst);
            } else {
                efm_cv_unpack(xn + (iy * in_w + ix0) * cin, row_groups, dst);
            }
        }
        return;
    }
    default: {
        /* Gather the window (whole rows of taps where they are inside the input; words where it can) into the
         * staging bytes, whose zero tail past k_h k_w k_c the caller wrote once, then unpack. */
        const int8_t zp = (int8_t)p->input_zp;
        const int32_t row = kw * cin;
        int8_t *s = stage;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                for (int32_t k = 0; k < row; k++) {
                    *s++ = zp;
                }
            } else if (h_inside && p->dil_w == 1) {
                s = efm_cv_copy(s, xn + (iy * in_w + ix0) * cin, row);
            } else {
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx * p->dil_w;
                    if (ix >= 0 && ix < in_w) {
                        s = efm_cv_copy(s, xn + (iy * in_w + ix) * cin, cin);
                    } else {
                        for (int32_t c = 0; c < cin; c++) {
                            *s++ = zp;
                        }
                    }
                }
            }
        }
        efm_cv_unpack(stage, p->arm_k4 >> 2, dst);
        return;
    }
    }
}

/* Requantization of accumulator A (2 acc) with {M, c, R} in x0, x1, x2 (w02 is a temporary). */
#define EFM_CV_RQ(A)                                                                                            \
    "add %[w02], %[x1], %[" #A "], asr #31\n\t"                                                                \
    "smmlar %[" #A "], %[" #A "], %[x0], %[w02]\n\t"                                                          \
    "asr %[" #A "], %[" #A "], %[x2]\n\t"
#define EFM_CV_SAT(A) "ssat %[" #A "], #8, %[" #A "]\n\t"
/* Clamp of A to [w02, w13] (the activation range, inside [-128, 127]). */
#define EFM_CV_CLAMP(A)                                                                                         \
    "cmp %[" #A "], %[w02]\n\t"                                                                                \
    "it lt\n\t"                                                                                                  \
    "movlt %[" #A "], %[w02]\n\t"                                                                             \
    "cmp %[" #A "], %[w13]\n\t"                                                                                \
    "it gt\n\t"                                                                                                  \
    "movgt %[" #A "], %[w13]\n\t"

/* The first group of a row: the accumulators start from the bias word (a3 holds it until its own SMLAD). */
#define EFM_CV_FIRST                                                                                            \
    "ldrd %[a3], %[w13], [%[w]], #8\n\t"                                                                       \
    "ldmia %[xs]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"                                                            \
    "sxtb16 %[w02], %[w13]\n\t"                                                                                \
    "sxtb16 %[w13], %[w13], ror #8\n\t"                                                                        \
    "smlad %[a0], %[x0], %[w02], %[a3]\n\t"                                                                    \
    "smlad %[a0], %[x1], %[w13], %[a0]\n\t"                                                                    \
    "smlad %[a1], %[x2], %[w02], %[a3]\n\t"                                                                    \
    "smlad %[a1], %[x3], %[w13], %[a1]\n\t"                                                                    \
    "ldmia %[xs]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"                                                            \
    "smlad %[a2], %[x0], %[w02], %[a3]\n\t"                                                                    \
    "smlad %[a2], %[x1], %[w13], %[a2]\n\t"                                                                    \
    "smlad %[a3], %[x2], %[w02], %[a3]\n\t"                                                                    \
    "smlad %[a3], %[x3], %[w13], %[a3]\n\t"

/* The dot products of one packed row with the four column slots: the first group, an odd group, pairs of groups
 * (n = groups - 1 on entry), then {M, c, R} loaded (w points to the next row afterwards). */
#define EFM_CV_DOT                                                                                              \
    EFM_CV_FIRST                                                                                                \
    "lsrs %[n], %[n], #1\n\t"                                                                                  \
    "bcc 1f\n\t" EFM_DOT4_GROUP                                                                                 \
    "1:\n\t"                                                                                                     \
    "cbz %[n], 3f\n\t"                                                                                         \
    "2:\n\t" EFM_DOT4_GROUP EFM_DOT4_GROUP                                                                      \
    "subs %[n], %[n], #1\n\t"                                                                                  \
    "bne 2b\n\t"                                                                                                 \
    "3:\n\t"                                                                                                     \
    "ldmia %[w]!, {%[x0], %[x1], %[x2]}\n\t"

/* After the requantization: the control words {n, -32 groups, y, out_c, channels left} that follow the columns
 * (where xs now points) are loaded, the four pixels' outputs stored (stride out_c), y advanced and the control
 * words written back; xs rewinds to the first column and the loop repeats while channels are left. */
#define EFM_CV_STORE                                                                                            \
    "ldmia %[xs], {%[n], %[x0], %[x1], %[x2], %[x3]}\n\t"                                                       \
    "strb %[a1], [%[x1], %[x2]]\n\t"                                                                           \
    "add %[w13], %[x1], %[x2], lsl #1\n\t"                                                                     \
    "strb %[a2], [%[w13]]\n\t"                                                                                 \
    "strb %[a3], [%[w13], %[x2]]\n\t"                                                                          \
    "strb %[a0], [%[x1]], #1\n\t"                                                                              \
    "subs %[x3], %[x3], #1\n\t"                                                                                \
    "stmia %[xs], {%[n], %[x0], %[x1], %[x2], %[x3]}\n\t"                                                       \
    "add %[xs], %[xs], %[x0]\n\t"                                                                              \
    "bne 0b\n\t"

#define EFM_CV_OPERANDS                                                                                         \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xs] "+r"(xs), [w] "+r"(w), [n] "+r"(n),   \
      [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [w02] "=&r"(w02), [w13] "=&r"(w13)       \
    :                                                                                                            \
    : "cc", "memory"

/* Every output channel of four pixels (column slots xs, control words ctrl after them, n0 = groups - 1): outputs
 * saturated to int8 (full activation range) or clamped to [ctrl[5], ctrl[6]]. */
static void efm_cv_block4(uint32_t *xs, const uint32_t *w, int32_t n0, int clamp) {
    register int32_t n __asm__("r3") = n0;
    register uint32_t x0 __asm__("r4");
    register uint32_t x1 __asm__("r5");
    register uint32_t x2 __asm__("r6");
    register uint32_t x3 __asm__("r7");
    int32_t a0, a1, a2, a3;
    uint32_t w02, w13;
    if (!clamp) {
        __asm__ volatile("0:\n\t" EFM_CV_DOT EFM_CV_RQ(a0) EFM_CV_SAT(a0) EFM_CV_RQ(a1) EFM_CV_SAT(a1)
                             EFM_CV_RQ(a2) EFM_CV_SAT(a2) EFM_CV_RQ(a3) EFM_CV_SAT(a3) EFM_CV_STORE EFM_CV_OPERANDS);
    } else {
        __asm__ volatile("0:\n\t" EFM_CV_DOT EFM_CV_RQ(a0) EFM_CV_RQ(a1) EFM_CV_RQ(a2) EFM_CV_RQ(a3)
                         "ldrd %[w02], %[w13], [%[xs], #20]\n\t" EFM_CV_CLAMP(a0) EFM_CV_CLAMP(a1) EFM_CV_CLAMP(a2)
                             EFM_CV_CLAMP(a3) EFM_CV_STORE EFM_CV_OPERANDS);
    }
}

/* The requantized, clamped output of one channel from its 2 acc (a2) and {M, c, R} (q): as EFM_CV_RQ. */
static inline int8_t efm_cv_out1(int32_t a2, const uint32_t *q, int32_t lo, int32_t hi) {
    int32_t v = efm_ssat8(efm_smmlar(a2, (int32_t)q[0], (int32_t)q[1] + (a2 >> 31)) >> (int32_t)q[2]);
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* efm_dot16x2 out of line (inlined into the pixel loop it would run out of registers). */
__attribute__((noinline)) static void efm_cv_dot16x2(const void *x, const void *w, int32_t groups, int32_t *a0,
                                                     int32_t *a1) {
    efm_dot16x2(x, w, groups, a0, a1);
}

/* One pixel (column slot 0: two words per group, 8 words apart), every output channel: two channels per pass share
 * the column's loads (a matrix-vector product, e.g. the one window of a streaming step). Rows as efm_cv_block4. */
static void efm_cv_pixel1(uint32_t *xs, const uint32_t *w, const int16_t *w16, int32_t groups, int32_t out_c,
                          int8_t *y, int32_t lo, int32_t hi) {
    const int32_t row = groups + 4; /* words per packed row */
    int32_t c = 0;
    if (w16 != 0) { /* int16 weights (groups even): the column compacted to 2 words per group, then efm_dot16x2 */
        for (int32_t g = 1; g < groups; g++) {
            xs[2 * g] = xs[8 * g];
            xs[2 * g + 1] = xs[8 * g + 1];
        }
        for (; c + 2 <= out_c; c += 2, w += 2 * row, w16 += 8 * groups) {
            int32_t a0 = (int32_t)w[0], a1 = (int32_t)w[row];
            efm_cv_dot16x2(xs, w16, groups >> 1, &a0, &a1);
            y[c] = efm_cv_out1(a0, w + 1 + groups, lo, hi);
            y[c + 1] = efm_cv_out1(a1, w + row + 1 + groups, lo, hi);
        }
        for (; c < out_c; c++, w += row) { /* an odd last channel, from the int8 row */
            int32_t a0 = (int32_t)w[0];
            for (int32_t g = 0; g < groups; g++) {
                const uint32_t u = w[1 + g];
                a0 = efm_smlad(xs[2 * g], efm_sxtb16(u), a0);
                a0 = efm_smlad(xs[2 * g + 1], efm_sxtb16_ror8(u), a0);
            }
            y[c] = efm_cv_out1(a0, w + 1 + groups, lo, hi);
        }
        return;
    }
    for (; c + 2 <= out_c; c += 2, w += 2 * row) {
        const uint32_t *w0 = w + 1, *w1 = w + row + 1, *xp = xs;
        int32_t a0 = (int32_t)w[0], a1 = (int32_t)w[row];
        for (int32_t g = 0; g < groups; g++, xp += 8) {
            const uint32_t x02 = xp[0], x13 = xp[1], u = w0[g], v = w1[g];
            a0 = efm_smlad(x02, efm_sxtb16(u), a0);
            a0 = efm_smlad(x13, efm_sxtb16_ror8(u), a0);
            a1 = efm_smlad(x02, efm_sxtb16(v), a1);
            a1 = efm_smlad(x13, efm_sxtb16_ror8(v), a1);
        }
        y[c] = efm_cv_out1(a0, w + 1 + groups, lo, hi);
        y[c + 1] = efm_cv_out1(a1, w + row + 1 + groups, lo, hi);
    }
    for (; c < out_c; c++, w += row) {
        const uint32_t *xp = xs;
        int32_t a0 = (int32_t)w[0];
        for (int32_t g = 0; g < groups; g++, xp += 8) {
            const uint32_t u = w[1 + g];
            a0 = efm_smlad(xp[0], efm_sxtb16(u), a0);
            a0 = efm_smlad(xp[1], efm_sxtb16_ror8(u), a0);
        }
        y[c] = efm_cv_out1(a0, w + 1 + groups, lo, hi);
    }
}

/* ---- The small-depth path (k_h k_w k_c <= 8: e.g. a pointwise layer on 8 channels, a 2x2 patch of one channel).
 * One output pixel at a time: its window (K4 = 4 or 8 values) sign-extended into two or four registers once, then
 * every output channel in one asm loop: one LDM loads the channel's packed row {K4/2 words of doubled int16
 * weights in the lanes of SXTB16, 2 (bias - zp_x sum w), M, c, R} (the clamp variant adds {lo, hi}), K4/2 SMLAD,
 * the requantization of EFM_CV_RQ, SSAT and one STRB that steps the output: 11 instructions per output channel
 * for K4 = 8 in the unrolled loop (four channels per iteration, the loop ends after the row whose R has bit 8
 * set; the emitter sets it on the last row of the four-channel part and on the last row). The requantization and
 * its exactness are those of the four-column path; no scratch. */

/* One output channel: K4 = 8 (x in r0-r3, row r4-r11), K4 = 4 (x in r0-r1, row r4, r5, r8-r11); y in lr. */
#define EFM_CS_RQ                                                                                               \
    "add r10, r10, r8, asr #31\n\t"                                                                            \
    "smmlar r8, r8, r9, r10\n\t"                                                                               \
    "asr r8, r8, r11\n\t"                                                                                      \
    "ssat r8, #8, r8\n\t"
/* Clamp of r8 (inside [-128, 127]) to [r6, r7] in byte lane 0: SSUB8 compares signed bytes, SEL picks. */
#define EFM_CS_CLAMP                                                                                            \
    "ssub8 r9, r8, r6\n\t"                                                                                     \
    "sel r8, r8, r6\n\t"                                                                                       \
    "ssub8 r9, r7, r8\n\t"                                                                                     \
    "sel r8, r8, r7\n\t"
#define EFM_CS_K8                                                                                               \
    "ldmia r12!, {r4-r11}\n\t"                                                                                 \
    "smlad r8, r0, r4, r8\n\t"                                                                                 \
    "smlad r8, r1, r5, r8\n\t"                                                                                 \
    "smlad r8, r2, r6, r8\n\t"                                                                                 \
    "smlad r8, r3, r7, r8\n\t" EFM_CS_RQ "strb r8, [lr], #1\n\t"
#define EFM_CS_K8C                                                                                              \
    "ldmia r12!, {r4-r11}\n\t"                                                                                 \
    "smlad r8, r0, r4, r8\n\t"                                                                                 \
    "smlad r8, r1, r5, r8\n\t"                                                                                 \
    "smlad r8, r2, r6, r8\n\t"                                                                                 \
    "smlad r8, r3, r7, r8\n\t"                                                                                 \
    "ldrd r6, r7, [r12], #8\n\t" EFM_CS_RQ EFM_CS_CLAMP "strb r8, [lr], #1\n\t"
#define EFM_CS_K4                                                                                               \
    "ldmia r12!, {r4, r5, r8-r11}\n\t"                                                                         \
    "smlad r8, r0, r4, r8\n\t"                                                                                 \
    "smlad r8, r1, r5, r8\n\t" EFM_CS_RQ "strb r8, [lr], #1\n\t"
#define EFM_CS_K4C                                                                                              \
    "ldmia r12!, {r4-r11}\n\t"                                                                                 \
    "smlad r8, r0, r4, r8\n\t"                                                                                 \
    "smlad r8, r1, r5, r8\n\t" EFM_CS_RQ EFM_CS_CLAMP "strb r8, [lr], #1\n\t"
#define EFM_CS_LOOP "tst r11, #256\n\t" "beq 1b\n\t"

/* efm_cs_k8*(x0, x1, x2, x3, rows, y) and efm_cs_k4*(x0, x1, -, -, rows, y): the rows until the one whose R has bit 8
 * set, four (x4) or one (x1) per loop iteration. */
#define EFM_CS_CLOBBER "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"
#define EFM_CS_FN(NAME, BODY)                                                                                   \
    static void NAME(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3, const uint32_t *rows, int8_t *y) {     \
        register uint32_t r0 __asm__("r0") = x0;                                                                 \
        register uint32_t r1 __asm__("r1") = x1;                                                                 \
        register uint32_t r2 __asm__("r2") = x2;                                                                 \
        register uint32_t r3 __asm__("r3") = x3;                                                                 \
        const void *a[2] = {rows, y};                                                                            \
        __asm__ volatile("ldr r12, %[a0]\n\t"                                                                   \
                         "ldr lr, %[a1]\n\t"                                                                    \
                         "1:\n\t" BODY                                                                          \
                         : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)                                               \
                         : [a0] "m"(a[0]), [a1] "m"(a[1])                                                       \
                         : EFM_CS_CLOBBER);                                                                      \
    }
EFM_CS_FN(efm_cs_k8_x4, EFM_CS_K8 EFM_CS_K8 EFM_CS_K8 EFM_CS_K8 EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k8_x1, EFM_CS_K8 EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k8c_x4, EFM_CS_K8C EFM_CS_K8C EFM_CS_K8C EFM_CS_K8C EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k8c_x1, EFM_CS_K8C EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k4_x4, EFM_CS_K4 EFM_CS_K4 EFM_CS_K4 EFM_CS_K4 EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k4_x1, EFM_CS_K4 EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k4c_x4, EFM_CS_K4C EFM_CS_K4C EFM_CS_K4C EFM_CS_K4C EFM_CS_LOOP)
EFM_CS_FN(efm_cs_k4c_x1, EFM_CS_K4C EFM_CS_LOOP)

/* efm_cs_run_*(s, npix, rows, y): npix pixels of a 1x1 stride-1 layer whose out_c is a multiple of 4, windows
 * read in place from s (K4 = in_c bytes apart): per pixel the window loaded and split (LOAD), then the four-channel
 * loop; the pixel pointer, count and rows live on the stack (12 instructions per pixel besides the channels). */
#define EFM_CS_RUN(NAME, LOAD, BODY)                                                                            \
    static void NAME(const int8_t *s, int32_t npix, const uint32_t *rows, int8_t *y) {                          \
        const void *a[4] = {s, (const void *)(intptr_t)npix, rows, y};                                           \
        __asm__ volatile("ldr lr, %[a3]\n\t"                                                                    \
                         "2:\n\t"                                                                               \
                         "ldr r4, %[a0]\n\t" LOAD "str r4, %[a0]\n\t"                                          \
                         "ldr r12, %[a2]\n\t"                                                                   \
                         "1:\n\t" BODY BODY BODY BODY EFM_CS_LOOP "ldr r4, %[a1]\n\t"                          \
                         "subs r4, r4, #1\n\t"                                                                  \
                         "str r4, %[a1]\n\t"                                                                    \
                         "bne 2b\n\t"                                                                           \
                         : [a0] "+m"(a[0]), [a1] "+m"(a[1])                                                     \
                         : [a2] "m"(a[2]), [a3] "m"(a[3])                                                       \
                         : "r0", "r1", "r2", "r3", EFM_CS_CLOBBER);                                             \
    }
#define EFM_CS_LOAD8                                                                                            \
    "ldrd r5, r6, [r4], #8\n\t"                                                                                \
    "sxtb16 r0, r5\n\t"                                                                                        \
    "sxtb16 r1, r5, ror #8\n\t"                                                                                \
    "sxtb16 r2, r6\n\t"                                                                                        \
    "sxtb16 r3, r6, ror #8\n\t"
#define EFM_CS_LOAD4                                                                                            \
    "ldr r5, [r4], #4\n\t"                                                                                     \
    "sxtb16 r0, r5\n\t"                                                                                        \
    "sxtb16 r1, r5, ror #8\n\t"
EFM_CS_RUN(efm_cs_run_k8, EFM_CS_LOAD8, EFM_CS_K8)
EFM_CS_RUN(efm_cs_run_k8c, EFM_CS_LOAD8, EFM_CS_K8C)
EFM_CS_RUN(efm_cs_run_k4, EFM_CS_LOAD4, EFM_CS_K4)
EFM_CS_RUN(efm_cs_run_k4c, EFM_CS_LOAD4, EFM_CS_K4C)

/* The window of output pixel (oy, ox) of image xn as K4 bytes (padding taps the input zero point, zeros after
 * k_h k_w k_c) in v[0], v[1]. */
static inline void efm_cs_window(const efm_conv_2d_params *p, const int8_t *xn, int32_t oy, int32_t ox,
                                 uint32_t v[2]) {
    const int32_t cin = p->in_c, kw = p->k_w, in_w = p->in_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    union {
        uint32_t w[2];
        int8_t b[8];
    } u = {{0, 0}};
    const int8_t zp = (int8_t)p->input_zp;
    int8_t *s = u.b;
    const int32_t row = kw * cin;
    if (p->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + kw <= in_w && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* inside the input: k_h rows of k_w k_c bytes */
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            const int8_t *src = xn + ((iy0 + ky * p->dil_h) * in_w + ix0) * cin;
            for (int32_t b = 0; b < row; b++) {
                *s++ = src[b];
            }
        }
        v[0] = u.w[0];
        v[1] = u.w[1];
        return;
    }
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ix0 + kx * p->dil_w;
            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < in_w;
            const int8_t *src = xn + (iy * in_w + ix) * cin;
            for (int32_t c = 0; c < cin; c++) {
                *s++ = inside ? src[c] : zp;
            }
        }
    }
    v[0] = u.w[0];
    v[1] = u.w[1];
}

/* The channels of one pixel from its window words v0, v1: the four-channel loop over rows, then the tail. */
#define EFM_CS_PIXEL(v0, v1)                                                                                    \
    do {                                                                                                         \
        const uint32_t x0_ = efm_sxtb16(v0), x1_ = efm_sxtb16_ror8(v0);                                        \
        const uint32_t x2_ = k8 ? efm_sxtb16(v1) : 0, x3_ = k8 ? efm_sxtb16_ror8(v1) : 0;                      \
        if (quads) {                                                                                             \
            if (k8) {                                                                                            \
                clamp ? efm_cs_k8c_x4(x0_, x1_, x2_, x3_, rows, y) : efm_cs_k8_x4(x0_, x1_, x2_, x3_, rows, y);  \
            } else {                                                                                             \
                clamp ? efm_cs_k4c_x4(x0_, x1_, x2_, x3_, rows, y) : efm_cs_k4_x4(x0_, x1_, x2_, x3_, rows, y);  \
            }                                                                                                    \
        }                                                                                                        \
        if (rem) {                                                                                               \
            int8_t *yt_ = y + 4 * quads;                                                                         \
            if (k8) {                                                                                            \
                clamp ? efm_cs_k8c_x1(x0_, x1_, x2_, x3_, tail, yt_) : efm_cs_k8_x1(x0_, x1_, x2_, x3_, tail, yt_); \
            } else {                                                                                             \
                clamp ? efm_cs_k4c_x1(x0_, x1_, x2_, x3_, tail, yt_) : efm_cs_k4_x1(x0_, x1_, x2_, x3_, tail, yt_); \
            }                                                                                                    \
        }                                                                                                        \
        y += out_c;                                                                                              \
    } while (0)

/* Every output pixel through the small-depth path (rows: the emitter's packed rows; the four-channel part first,
 * out_c / 4 blocks, then the out_c % 4 rows of the one-channel loop). 1x1 windows are read in place. */
/* (out of line: inlined, it changes the register allocation of the four-column path in efm_conv_2d) */
__attribute__((noinline)) static void efm_cv_small(const efm_conv_2d_params *p, const int8_t *x,
                                                   const uint32_t *rows, int8_t *y) {
    const int32_t out_c = p->out_c, k8 = p->arm_k4 == 8;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const int32_t row = (k8 ? 8 : 6) + (clamp ? 2 : 0), quads = out_c >> 2, rem = out_c & 3;
    const uint32_t *tail = rows + 4 * quads * row;
    const int32_t image = p->in_h * p->in_w * p->in_c, out_w = p->out_w;
    if (p->arm_cols == EFM_CONV_COL_1X1 && p->stride_h == 1 && p->stride_w == 1 && quads && !rem) {
        /* pixels (and their windows) follow each other: one asm loop over all of them */
        const int32_t npix = p->batches * p->out_h * out_w;
        if (k8) {
            clamp ? efm_cs_run_k8c(x, npix, rows, y) : efm_cs_run_k8(x, npix, rows, y);
        } else {
            clamp ? efm_cs_run_k4c(x, npix, rows, y) : efm_cs_run_k4(x, npix, rows, y);
        }
        return;
    }
    if (p->arm_cols == EFM_CONV_COL_1X1) {
        const int32_t step = p->stride_w * p->in_c, skip = p->stride_h * p->in_w * p->in_c;
        for (int32_t n = 0; n < p->batches; n++, x += image) {
            const int8_t *xr = x;
            for (int32_t oy = 0; oy < p->out_h; oy++, xr += skip) {
                const int8_t *s = xr;
                for (int32_t ox = 0; ox < out_w; ox++, s += step) {
                    const uint32_t v0 = efm_load4(s), v1 = k8 ? efm_load4(s + 4) : 0;
                    EFM_CS_PIXEL(v0, v1);
                }
            }
        }
        return;
    }
    const int32_t in_row = p->in_w * p->in_c, pair = p->k_w * p->in_c;
    if (p->k_h == 2 && pair == 2 && !k8 && p->dil_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
        (p->out_h - 1) * p->stride_h + p->dil_h < p->in_h && (out_w - 1) * p->stride_w + p->k_w - 1 < p->in_w) {
        /* two bytes from each of two rows, every window inside the input (e.g. a 2x2x1 patch embedding): the
         * window word is two halfword loads, no per-tap checks */
        const int32_t step = p->stride_w * p->in_c, skip = p->stride_h * in_row, dy = p->dil_h * in_row;
        for (int32_t n = 0; n < p->batches; n++, x += image) {
            const int8_t *xr = x;
            for (int32_t oy = 0; oy < p->out_h; oy++, xr += skip) {
                const int8_t *s = xr;
                for (int32_t ox = 0; ox < out_w; ox++, s += step) {
                    uint16_t a, b;
                    __builtin_memcpy(&a, s, 2);
                    __builtin_memcpy(&b, s + dy, 2);
                    const uint32_t v0 = (uint32_t)a | (uint32_t)b << 16;
                    EFM_CS_PIXEL(v0, 0u);
                }
            }
        }
        return;
    }
    for (int32_t n = 0; n < p->batches; n++, x += image) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < out_w; ox++) {
                uint32_t v[2];
                efm_cs_window(p, x, oy, ox, v);
                EFM_CS_PIXEL(v[0], v[1]);
            }
        }
    }
}

void efm_conv_2d_small(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, int8_t *y) {
    efm_cv_small(p, x, (const uint32_t *)(const void *)w, y);
}

/* Pixels first..npix-1 of the convolution, one matrix-vector pass each (efm_cv_pixel1, column slot 0). */
__attribute__((noinline)) static void efm_cv_rest(const efm_conv_2d_params *p, const int8_t *x, const uint32_t *wr,
                                                  int8_t *y, uint32_t *xs, int8_t *stage, uint32_t zpw,
                                                  int32_t first) {
    const int32_t image = p->in_h * p->in_w * p->in_c, plane = p->out_h * p->out_w, npix = p->batches * plane;
    const int32_t lo = p->act_min < -128 ? -128 : p->act_min, hi = p->act_max > 127 ? 127 : p->act_max;
    for (int32_t i = first; i < npix; i++) {
        efm_cv_column(p, x + (i / plane) * image, (i % plane) / p->out_w, i % p->out_w, xs, stage, zpw);
        efm_cv_pixel1(xs, wr, p->arm_w16, p->arm_k4 >> 2, p->out_c, y + i * p->out_c, lo, hi);
    }
}

void efm_conv_2d(const efm_conv_2d_params *p, const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                 void *scratch) {
    (void)bias; /* folded into the packed rows (small-depth layers are generated as efm_conv_2d_small calls) */
    const int32_t k4 = p->arm_k4, groups = k4 >> 2, out_c = p->out_c;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    uint32_t *xs = (uint32_t *)scratch;
    uint32_t *ctrl = xs + 2 * k4;
    int8_t *stage = (int8_t *)(ctrl + 8);
    const uint32_t zp2 = (uint32_t)(2 * p->input_zp) & 0xFFFFu;
    const uint32_t zpw = zp2 | (zp2 << 16);
    const uint32_t *wr = (const uint32_t *)(const void *)w;
    if (p->arm_cols == EFM_CONV_COL_BYTES) {
        for (int32_t k = p->k_h * p->k_w * p->in_c; k < k4; k++) {
            stage[k] = 0;
        }
    }
    const int32_t image = p->in_h * p->in_w * p->in_c, plane = p->out_h * p->out_w;
    const int32_t npix = p->batches * plane;
    ctrl[0] = (uint32_t)(groups - 1);
    ctrl[1] = (uint32_t)(-32 * groups);
    ctrl[5] = (uint32_t)p->act_min;
    ctrl[6] = (uint32_t)p->act_max;
    if (npix < 4) { /* fewer than four pixels: one matrix-vector pass per pixel */
        efm_cv_rest(p, x, wr, y, xs, stage, zpw, 0);
        return;
    }
    const int32_t rest = (npix & 3) <= 2 ? (npix & 3) : 0;
    const int32_t nblk = npix - rest;
    for (int32_t p0 = 0; p0 < nblk; p0 += 4) {
        /* With three pixels left over, the last block ends at the last pixel (it recomputes one output of the
         * previous block, same bits). */
        const int32_t q0 = p0 + 4 <= nblk ? p0 : nblk - 4;
        int32_t n = q0 / plane, oy = (q0 % plane) / p->out_w, ox = q0 % p->out_w;
        if (p->arm_cols == EFM_CONV_COL_1X1) {
            const int8_t *src[4];
            for (int32_t i = 0; i < 4; i++) {
                src[i] = x + n * image + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c;
                if (++ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        n++;
                    }
                }
            }
            efm_cv_unpack4(src[0], src[1], src[2], src[3], groups, xs);
        } else {
            for (int32_t i = 0; i < 4; i++) {
                efm_cv_column(p, x + n * image, oy, ox, xs + 2 * i, stage, zpw);
                if (++ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        n++;
                    }
                }
            }
        }
        ctrl[2] = (uint32_t)(y + q0 * out_c);
        ctrl[3] = (uint32_t)out_c;
        ctrl[4] = (uint32_t)out_c;
        efm_cv_block4(xs, wr, groups - 1, clamp);
    }
    /* One or two pixels left over: the matrix-vector pass per pixel, cheaper than a block of four that would
     * recompute three or two pixels of the previous block; after the blocks, in pixel order (an in-place
     * convolution's output overwrites input rows behind the pixels it has computed). */
    if (rest > 0) {
        efm_cv_rest(p, x, wr, y, xs, stage, zpw, nblk);
    }
}

#endif
