/* DEPTHWISE_CONV_2D for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/depthwise_conv_2d.c.
 *
 * Four channels at a time: one 32-bit load brings a tap's four input channels, SXTB16 splits them into int16
 * pairs (channels 0, 2 and 1, 3), and SMLABB / SMLATT accumulate each channel against its weight, which the emitter
 * stores unpacked and doubled (int16 pairs 2w): per tap and four channels one load of the tap's offset, one of the
 * input, one LDRD of the weights, two SXTB16 and four multiply-accumulates. An asm loop runs every four-channel
 * group of a pixel (3x3 windows unrolled) and, with depth multiplier 1, a whole run of pixels along a row whose
 * windows are inside the input. Taps are offsets from the window origin in a table in the scratch: fixed for the
 * pixels inside, rebuilt for each border pixel with the taps outside pointing at a row of input zero points (which
 * the bias folding cancels). The four outputs are packed into a word and clamped with SSUB8 + SEL against the
 * packed activation bounds, then stored as one word (or four bytes dm apart). Channel tails (in_c % 4) run the same
 * arithmetic in C.
 *
 * The emitter packs, per depth multiplier m and group of four input channels (output channels (c + j) dm + m),
 *   {2 (bias - zp_x sum w) x 4, per tap {2w0 | 2w2 << 16, 2w1 | 2w3 << 16}, {M, c, R} x 4}
 * (see kernels/arm/conv_2d.c for the 32-bit double-rounding requantization y = SMMLAR(2 acc, M, c - [acc < 0]) >> R,
 * c = 2^(R-1) + zp_y 2^R; where it does not apply the generated code calls efm_depthwise_conv_2d_portable instead).
 * Channels past the last input channel have zero weights and are not stored. */
#ifdef EFM_ARM_DEPTHWISE_CONV_2D

#include "depthwise_conv_2d.h"
#include "efm_kernel.h"

/* efm_arm.h's FULLY_CONNECTED helpers are not used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop

/* One tap of four channels: input word v, weight words wt[0] (channels 0, 2) and wt[1] (channels 1, 3). */
#define EFM_DW_TAP(v, wt)                                                                                       \
    do {                                                                                                         \
        const uint32_t lo_ = efm_sxtb16(v), hi_ = efm_sxtb16_ror8(v);                                           \
        const uint32_t w0_ = (wt)[0], w1_ = (wt)[1];                                                            \
        a0 = efm_smlabb(lo_, w0_, a0);                                                                       \
        a2 = efm_smlatt(lo_, w0_, a2);                                                                       \
        a1 = efm_smlabb(hi_, w1_, a1);                                                                       \
        a3 = efm_smlatt(hi_, w1_, a3);                                                                       \
    } while (0)

/* The requantized output of accumulator a (2 acc) with q = {M, c, R}, saturated to int8. */
static inline int32_t efm_dw_rq(int32_t a, const int32_t *q) {
    return efm_ssat8(efm_smmlar(a, q[0], q[1] + (a >> 31)) >> q[2]);
}

static inline int8_t efm_dw_clamp(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Four input channels of a tap as one word; the last group of a channel count that is not a multiple of 4 reads
 * only its `nc` channels (the others are zero, their weights too). */
static inline uint32_t efm_dw_load(const int8_t *src, int32_t nc) {
    if (nc >= 4) {
        return efm_load4(src);
    }
    uint32_t v = 0;
    for (int32_t j = 0; j < nc; j++) {
        v |= (uint32_t)(uint8_t)src[j] << (8 * j);
    }
    return v;
}


/* One tap of the asm loops: tap offset in x0 (loaded by LOADP), the input word at x0 + c0 (c0: the window origin
 * plus the group's channel offset) into v, the weight words into x0 (channels 0, 2) and w1 (channels 1, 3). */
#define EFM_DW_TAP_ASM(LOADP)                                                                                   \
    LOADP "ldr %[v], [%[x0], %[c0]]\n\t"                                                                        \
    "ldrd %[x0], %[w1], [%[g]], #8\n\t"                                                                        \
    "sxtb16 %[lo], %[v]\n\t"                                                                                   \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                            \
    "smlabb %[a0], %[lo], %[x0], %[a0]\n\t"                                                                    \
    "smlatt %[a2], %[lo], %[x0], %[a2]\n\t"                                                                    \
    "smlabb %[a1], %[v], %[w1], %[a1]\n\t"                                                                     \
    "smlatt %[a3], %[v], %[w1], %[a3]\n\t"
#define EFM_DW_P(T) "ldr %[x0], [%[tp], #" #T "]\n\t"
/* Requantization of A with {M, c, R} in x0, lo, v (w1 is a temporary), saturated to int8. */
#define EFM_DW_RQ(A)                                                                                            \
    "ldmia %[g]!, {%[x0], %[lo], %[v]}\n\t"                                                                     \
    "add %[w1], %[lo], %[" #A "], asr #31\n\t"                                                                 \
    "smmlar %[" #A "], %[" #A "], %[x0], %[w1]\n\t"                                                           \
    "asr %[" #A "], %[" #A "], %[v]\n\t"                                                                      \
    "ssat %[" #A "], #8, %[" #A "]\n\t"
/* The four requantized outputs packed into a0 (bytes). */
#define EFM_DW_OUT                                                                                              \
    EFM_DW_RQ(a0) EFM_DW_RQ(a1) EFM_DW_RQ(a2) EFM_DW_RQ(a3)                                                     \
    "bfi %[a0], %[a1], #8, #8\n\t"                                                                             \
    "bfi %[a0], %[a2], #16, #8\n\t"                                                                            \
    "bfi %[a0], %[a3], #24, #8\n\t"
/* Clamp of the four packed outputs to the packed activation bounds at [tp, #OFF] (SSUB8 + SEL: max, min). */
#define EFM_DW_CLAMP(OFF)                                                                                       \
    "ldrd %[x0], %[w1], [%[tp], #" OFF "]\n\t"                                                                 \
    "ssub8 %[v], %[a0], %[x0]\n\t"                                                                             \
    "sel %[a0], %[a0], %[x0]\n\t"                                                                              \
    "ssub8 %[v], %[w1], %[a0]\n\t"                                                                             \
    "sel %[a0], %[a0], %[w1]\n\t"
/* Store of the four packed outputs: contiguous (depth multiplier 1; y advances by 4), or one byte each, dm bytes
 * apart (the depth multiplier dm at [tp, #OFF]; y advances by 4 dm). */
#define EFM_DW_STORE "str %[a0], [%[y]], #4\n\t"
#define EFM_DW_STORE_DM(OFF)                                                                                    \
    "ldr %[x0], [%[tp], #" OFF "]\n\t"                                                                        \
    "strb %[a0], [%[y]]\n\t"                                                                                 \
    "lsr %[lo], %[a0], #8\n\t"                                                                               \
    "strb %[lo], [%[y], %[x0]]\n\t"                                                                          \
    "add %[y], %[y], %[x0]\n\t"                                                                              \
    "lsr %[lo], %[a0], #16\n\t"                                                                              \
    "strb %[lo], [%[y], %[x0]]\n\t"                                                                          \
    "add %[y], %[y], %[x0]\n\t"                                                                              \
    "lsr %[lo], %[a0], #24\n\t"                                                                              \
    "strb %[lo], [%[y], %[x0]]\n\t"                                                                          \
    "add %[y], %[y], %[x0], lsl #1\n\t"
/* Next channel offset, next group; then the next pixel of a run along the row, from the words before the table
 * {pixels left, origin step - 4 groups, groups, first group}. */
#define EFM_DW_LOOP                                                                                             \
    "add %[c0], %[c0], #4\n\t"                                                                               \
    "subs %[n], %[n], #1\n\t"                                                                                \
    "bne 1b\n\t"                                                                                               \
    "ldr %[x0], [%[tp], #-16]\n\t"                                                                           \
    "subs %[x0], %[x0], #1\n\t"                                                                              \
    "beq 9f\n\t"                                                                                               \
    "str %[x0], [%[tp], #-16]\n\t"                                                                           \
    "ldrd %[x0], %[n], [%[tp], #-12]\n\t"                                                                    \
    "add %[c0], %[c0], %[x0]\n\t"                                                                            \
    "ldr %[g], [%[tp], #-4]\n\t"                                                                             \
    "b 1b\n\t"                                                                                                 \
    "9:\n\t"

#define EFM_DW_OPERANDS                                                                                         \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x0] "=&r"(x0), [lo] "=&r"(lo),          \
      [v] "=&r"(v), [w1] "=&r"(w1), [g] "+r"(g), [c0] "+r"(c0), [n] "+r"(n), [y] "+r"(y), [tp] "+r"(tp)        \
    :                                                                                                            \
    : "cc", "memory"

#define EFM_DW_REGS                                                                                             \
    register int32_t a0 __asm__("r0");                                                                          \
    register int32_t a1 __asm__("r1");                                                                          \
    register int32_t a2 __asm__("r2");                                                                          \
    register int32_t a3 __asm__("r3");                                                                          \
    register uint32_t x0 __asm__("r4");                                                                         \
    register uint32_t lo __asm__("r5");                                                                         \
    register uint32_t v __asm__("r6");                                                                          \
    uint32_t w1;                                                                                                 \
    uintptr_t c0 = xb

/* n groups of four channels of one output pixel, depth multiplier 1, 3x3 window: tap offsets tp[0..8] from the
 * pixel's window origin xb (then a rewind word, the tap count and the packed activation bounds: a tap table of
 * efm_depthwise_conv_2d), packed groups g, outputs y. Returns the next group. */
#define EFM_DW_3X3(NAME, CLAMP, STORE)                                                                                 \
    __attribute__((noinline)) static const uint32_t *NAME(const uint32_t *tp, const uint32_t *g, int32_t n,      \
                                                          int8_t *y, uintptr_t xb, int32_t taps) {              \
        EFM_DW_REGS;                                                                                            \
        (void)taps;                                                                                             \
        __asm__ volatile("1:\n\t"                                                                               \
                         "ldmia %[g]!, {%[a0], %[a1], %[a2], %[a3]}\n\t" EFM_DW_TAP_ASM(EFM_DW_P(0))            \
                             EFM_DW_TAP_ASM(EFM_DW_P(4)) EFM_DW_TAP_ASM(EFM_DW_P(8))                            \
                                 EFM_DW_TAP_ASM(EFM_DW_P(12)) EFM_DW_TAP_ASM(EFM_DW_P(16))                      \
                                     EFM_DW_TAP_ASM(EFM_DW_P(20)) EFM_DW_TAP_ASM(EFM_DW_P(24))                  \
                                         EFM_DW_TAP_ASM(EFM_DW_P(28)) EFM_DW_TAP_ASM(EFM_DW_P(32))              \
                                             EFM_DW_OUT CLAMP STORE EFM_DW_LOOP EFM_DW_OPERANDS);               \
        return g;                                                                                               \
    }
EFM_DW_3X3(efm_dw_3x3, EFM_DW_CLAMP("44"), EFM_DW_STORE)

/* The same for any window (taps = the number of taps): the taps are walked with tp, which then points at the
 * rewind word (the tap count and the bounds follow it). */
#define EFM_DW_ANY(NAME, CLAMP, STORE)                                                                                 \
    __attribute__((noinline)) static const uint32_t *NAME(const uint32_t *tp, const uint32_t *g, int32_t n,      \
                                                          int8_t *y, uintptr_t xb, int32_t taps) {              \
        EFM_DW_REGS;                                                                                            \
        int32_t k = taps;                                                                                       \
        __asm__ volatile("1:\n\t"                                                                               \
                         "ldmia %[g]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"                                        \
                         "2:\n\t" EFM_DW_TAP_ASM("ldr %[x0], [%[tp]], #4\n\t")                                  \
                         "subs %[k], %[k], #1\n\t"                                                              \
                         "bne 2b\n\t" EFM_DW_OUT CLAMP STORE                                                    \
                         "ldrd %[x0], %[k], [%[tp]]\n\t"                                                        \
                         "add %[tp], %[tp], %[x0]\n\t" EFM_DW_LOOP                                              \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x0] "=&r"(x0),      \
                           [lo] "=&r"(lo), [v] "=&r"(v), [w1] "=&r"(w1), [g] "+r"(g), [c0] "+r"(c0),            \
                           [n] "+r"(n), [y] "+r"(y), [tp] "+r"(tp), [k] "+r"(k)                                 \
                         :                                                                                      \
                         : "cc", "memory");                                                                     \
        return g;                                                                                               \
    }
EFM_DW_ANY(efm_dw_any, EFM_DW_CLAMP("8"), EFM_DW_STORE)
EFM_DW_ANY(efm_dw_any_dm, EFM_DW_CLAMP("8"), EFM_DW_STORE_DM("16"))

/* The asm loop of `variant` (0: 3x3 window, 1: any window, 2: any window and a depth multiplier above 1), called
 * directly (the firmware's static stack analysis does not follow function pointers). */
static inline const uint32_t *efm_dw_run(int variant, const uint32_t *tp, const uint32_t *g, int32_t n, int8_t *y,
                                         uintptr_t xb, int32_t taps) {
    switch (variant) {
    case 0:
        return efm_dw_3x3(tp, g, n, y, xb, taps);
    case 1:
        return efm_dw_any(tp, g, n, y, xb, taps);
    default:
        return efm_dw_any_dm(tp, g, n, y, xb, taps);
    }
}

/* One group of four channels (output channels (c0 + j) dm + m, nc of them real) in C: the channel tail and depth
 * multipliers above 1. */
__attribute__((noinline)) static void efm_dw_group_c(const uint32_t *tp, int32_t taps, const uint32_t *g,
                                                     uintptr_t c0, int32_t nc, int8_t *y, int32_t dm, int32_t lo,
                                                     int32_t hi) {
    int32_t a0 = (int32_t)g[0], a1 = (int32_t)g[1], a2 = (int32_t)g[2], a3 = (int32_t)g[3];
    const uint32_t *wt = g + 4;
    for (int32_t t = 0; t < taps; t++, wt += 2) {
        EFM_DW_TAP(efm_dw_load((const int8_t *)(tp[t] + c0), nc), wt);
    }
    const int32_t *q = (const int32_t *)(const void *)wt;
    const int32_t r[4] = {efm_dw_rq(a0, q), efm_dw_rq(a1, q + 3), efm_dw_rq(a2, q + 6), efm_dw_rq(a3, q + 9)};
    for (int32_t j = 0; j < nc; j++) {
        y[j * dm] = efm_dw_clamp(r[j], lo, hi);
    }
}

/* scratch: the zero-point row (in_c bytes rounded up to 4: what taps outside the input read), then two tap tables
 * {pixels, origin step - 4 groups, groups, first group | an offset per tap from the window origin, -4 taps, taps,
 * act_min x 4 bytes, act_max x 4 bytes, dm}: the interior pixels' (fixed offsets) and the current border pixel's
 * (offsets to the zero-point row for taps outside); the tap pointer points past the first four words. */
void efm_depthwise_conv_2d(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y, void *scratch) {
    (void)bias; /* folded into the packed groups */
    const int32_t kh = p->k_h, kw = p->k_w, taps = kh * kw, c_in = p->in_c, dm = p->depth_multiplier;
    const int32_t in_h = p->in_h, in_w = p->in_w, out_c = p->out_c, row = in_w * c_in;
    const int32_t full = c_in >> 2, tail = c_in & 3, gwords = 16 + 2 * taps;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t batches = p->batches, out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t dh = p->dil_h, dw = p->dil_w, pt = p->pad_top, pl = p->pad_left;
    int8_t *zrow = (int8_t *)scratch;
    const int32_t zbytes = (c_in + 3) & ~3;
    uint32_t *tin = (uint32_t *)(void *)(zrow + zbytes) + 4, *tbd = tin + taps + 9;
    for (int32_t c = 0; c < zbytes; c++) {
        zrow[c] = (int8_t)p->input_zp;
    }
    const uint32_t *w0 = (const uint32_t *)(const void *)w;
    for (int32_t k = 0; k < 2; k++) {
        uint32_t *tw = k ? tbd : tin;
        tw[-3] = (uint32_t)((sw - 1) * c_in);
        tw[-2] = (uint32_t)full;
        tw[-1] = (uint32_t)(uintptr_t)w0;
        tw[taps] = (uint32_t)(-4 * taps);
        tw[taps + 1] = (uint32_t)taps;
        tw[taps + 2] = 0x01010101u * (uint8_t)lo;
        tw[taps + 3] = 0x01010101u * (uint8_t)hi;
        tw[taps + 4] = (uint32_t)dm;
    }
    for (int32_t ky = 0, t = 0; ky < kh; ky++) {
        for (int32_t kx = 0; kx < kw; kx++, t++) {
            tin[t] = (uint32_t)(ky * dh * row + kx * dw * c_in);
        }
    }
    const int variant = dm > 1 ? 2 : (taps == 9 ? 0 : 1);
    /* Output columns whose window is inside the input horizontally: [ox_in, ox_out). With depth multiplier 1 and
     * whole groups, such a run of a row is one call (its pixels follow each other in y). */
    const int32_t last = in_w - 1 - (kw - 1) * dw + pl;
    const int32_t ox_in = (pl + sw - 1) / sw, ox_out = last < 0 ? 0 : (last / sw + 1 < out_w ? last / sw + 1 : out_w);
    const int runs = dm == 1 && tail == 0;
    for (int32_t n = 0; n < batches; n++) {
        const int8_t *xn = x + n * in_h * row;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * sh - pt;
            const int y_inside = iy0 >= 0 && iy0 + (kh - 1) * dh < in_h;
            for (int32_t ox = 0; ox < out_w;) {
                const int32_t ix0 = ox * sw - pl;
                /* The window origin as an address (outside the input for border pixels: only added to offsets). */
                const uintptr_t xb = (uintptr_t)xn + (uintptr_t)(iy0 * row + ix0 * c_in);
                uint32_t *tp = tin;
                int32_t count = 1;
                if (y_inside && ox >= ox_in && ox < ox_out) {
                    count = runs ? ox_out - ox : 1;
                } else {
                    for (int32_t ky = 0, t = 0; ky < kh; ky++) {
                        const int32_t iy = iy0 + ky * dh;
                        const int y_in = iy >= 0 && iy < in_h;
                        for (int32_t kx = 0; kx < kw; kx++, t++) {
                            const int32_t ix = ix0 + kx * dw;
                            tbd[t] = y_in && ix >= 0 && ix < in_w ? tin[t] : (uint32_t)((uintptr_t)zrow - xb);
                        }
                    }
                    tp = tbd;
                }
                const uint32_t *g = w0;
                for (int32_t m = 0; m < dm; m++) {
                    int8_t *ym = y + m;
                    if (full > 0) {
                        tp[-4] = (uint32_t)count;
                        g = efm_dw_run(variant, tp, g, full, ym, xb, taps);
                    }
                    if (tail) {
                        efm_dw_group_c(tp, taps, g, xb + 4 * full, tail, ym + 4 * full * dm, dm, lo, hi);
                        g += gwords;
                    }
                }
                ox += count;
                y += count * out_c;
            }
        }
    }
}

#endif
