/* FULLY_CONNECTED for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/fully_connected.c.
 *
 * The input zero point is folded into a per-output-feature bias at generation time (bias - zp * sum(w)), so the
 * inner loop is a plain int8 dot product, and the accumulators start from that bias. Rows are processed in blocks
 * of six (where the emitter gives p->arm_block_rows 6: at least six rows and at most 1 KiB of extra scratch) or
 * four: their int8 values are unpacked once into int16 pairs in the kernel scratch, and each 32-bit weight word is
 * loaded and unpacked (SXTB16) once for the whole block: per group of four inputs one weight load, two SXTB16,
 * three LDM and twelve SMLAD (dual 16-bit MACs) for 24 MACs (0.75 instructions per MAC; the 0.5 bound is the SMLAD
 * alone). The panel (efm_arm.h) runs all output features of a block in one assembly loop, with the 32-bit
 * requantization (SMMLA / SMMLAR + SSAT), the activation clamp and the stores. Depths that are not a multiple of 4,
 * rows outside the blocks and the 64-bit requantization take the C paths below. Ops with fewer than four rows (the
 * matrix-vector products of a streaming step) use int16 weights prepared at generation time (p->w16) where every
 * feature has the 32-bit requantization: two features per pass, 16 MACs in 13 instructions (efm_dot16x2). */
#ifdef EFM_ARM_FULLY_CONNECTED

#include <stddef.h>

#include "efm_arm.h"
#include "efm_kernel.h"
#include "fully_connected.h"

/* The requantized, clamped output of one accumulator in 64 bits (the general case). */
static int8_t efm_fc_out(int64_t total, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
    const int64_t v = efm_mbqm_single(total, mult, shift) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* The state of one panel call (the assembly addresses the fields by offset). requant32 rows are {M, offset,
 * rshift, adj} per output feature (see efm_fc_out4). */
typedef struct {
    const int32_t *q;     /*  0: requant32 row of the current output feature */
    int8_t *y;            /*  4: output of the block's first row, current feature */
    int32_t y_stride;     /*  8: bytes between output rows */
    const int8_t *y_end;  /* 12: y after the last feature */
    const uint32_t *xs;   /* 16: unpacked rows */
    int32_t rem;          /* 20: groups % EFM_PANEL_UNROLL */
    const int8_t *w;      /* 24: first weight row (the rows are contiguous) */
    int32_t act;          /* 28: clamp to [lo, hi] (an activation narrower than int8) */
    int32_t lo;           /* 32 */
    int32_t hi;           /* 36 */
} efm_fc_panel;

typedef char efm_fc_panel_layout[(offsetof(efm_fc_panel, q) == 0 && offsetof(efm_fc_panel, y) == 4 &&
                                  offsetof(efm_fc_panel, y_end) == 12 && offsetof(efm_fc_panel, xs) == 16 &&
                                  offsetof(efm_fc_panel, rem) == 20 && offsetof(efm_fc_panel, w) == 24 &&
                                  offsetof(efm_fc_panel, act) == 28 && offsetof(efm_fc_panel, lo) == 32)
                                     ? 1
                                     : -1];

/* Accumulators = the feature's adj (r6). */
#define EFM_FC_INIT4 "mov r8, r6\n\t" "mov r9, r6\n\t" "mov r10, r6\n\t" "mov r11, r6\n\t"
#define EFM_FC_INIT6 EFM_FC_INIT4 "mov r12, r6\n\t" "mov lr, r6\n\t"
/* (SMMUL(a, M) + offset) >> rshift, saturated to int8 (M r3, offset r4, rshift r5). */
#define EFM_FC_RQ(a) "smmla " a ", " a ", r3, r4\n\t" "asr " a ", " a ", r5\n\t" "ssat " a ", #8, " a "\n\t"
/* SMMULR(a, M) + zp (rshift -1: t = 32). */
#define EFM_FC_RQR(a) "smmlar " a ", " a ", r3, r4\n\t" "ssat " a ", #8, " a "\n\t"
/* max(lo, min(hi, a)) with lo r3, hi r4. */
#define EFM_FC_CLAMP(a) "cmp " a ", r3\n\t" "it lt\n\t" "movlt " a ", r3\n\t" "cmp " a ", r4\n\t" "it gt\n\t" \
    "movgt " a ", r4\n\t"
#define EFM_FC_EACH4(M) M("r8") M("r9") M("r10") M("r11")
#define EFM_FC_EACH6(M) EFM_FC_EACH4(M) M("r12") M("lr")

/* Per output feature after the loop: requantize (the rshift -1 form out of line at label 20), clamp, store, step
 * to the next feature (r7: its requant32 row) or leave. */
#define EFM_FC_PANEL_ASM(INIT, GROUP, EACH, STORE)                                                              \
    "ldr r0, %[p]\n\t"                                                                                          \
    "ldr r2, [r0, #0]\n\t"                                                                                      \
    "ldr r6, [r2, #12]\n\t"                                                                                     \
    "ldr r1, [r0, #24]\n\t" INIT "ldrd r0, r4, [r0, #16]\n\t" EFM_PANEL_LOOP(GROUP) "ldr r0, %[p]\n\t"          \
    "ldr r7, [r0, #0]\n\t"                                                                                      \
    "ldmia r7!, {r3, r4, r5, r6}\n\t"                                                                           \
    "str r7, [r0, #0]\n\t"                                                                                      \
    "cmp r5, #0\n\t"                                                                                            \
    "blt 20f\n\t" EACH(EFM_FC_RQ) "21:\n\t"                                                                     \
    "ldr r2, [r0, #28]\n\t"                                                                                     \
    "cbz r2, 22f\n\t"                                                                                           \
    "ldrd r3, r4, [r0, #32]\n\t" EACH(EFM_FC_CLAMP) "22:\n\t"                                                   \
    "ldrd r2, r3, [r0, #4]\n\t" STORE "adds r2, #1\n\t"                                                         \
    "str r2, [r0, #4]\n\t"                                                                                      \
    "ldr r3, [r0, #12]\n\t"                                                                                     \
    "cmp r2, r3\n\t"                                                                                            \
    "beq 29f\n\t"                                                                                               \
    "ldr r6, [r7, #12]\n\t" INIT "ldrd r0, r4, [r0, #16]\n\t"                                                   \
    "b 5b\n"                                                                                                    \
    "20:\n\t" EACH(EFM_FC_RQR) "b 21b\n"                                                                        \
    "29:\n\t"

#define EFM_FC_CLOBBERS "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", \
    "memory"

__attribute__((noinline)) static void efm_fc_panel4(efm_fc_panel *p) {
    __asm__ volatile(EFM_FC_PANEL_ASM(EFM_FC_INIT4, EFM_PG4, EFM_FC_EACH4, EFM_PANEL_STORE4)
                     :
                     : [p] "m"(p)
                     : EFM_FC_CLOBBERS);
}

__attribute__((noinline)) static void efm_fc_panel6(efm_fc_panel *p) {
    __asm__ volatile(EFM_FC_PANEL_ASM(EFM_FC_INIT6, EFM_PG6, EFM_FC_EACH6, EFM_PANEL_STORE6)
                     :
                     : [p] "m"(p)
                     : EFM_FC_CLOBBERS);
}

/* Rows r..r+3 (`stride` bytes apart) of one output feature with the table row q in C (depth tails). */
static void efm_fc_out4(const int32_t *q, const int32_t acc[4], int8_t *y, int32_t stride, int act, int32_t lo,
                        int32_t hi) {
    for (int32_t i = 0; i < 4; i++) {
        int32_t v = q[2] < 0 ? efm_smmulr(acc[i], q[0]) + q[1] : (efm_smmul(acc[i], q[0]) + q[1]) >> q[2];
        v = efm_ssat8(v);
        if (act) {
            v = v < lo ? lo : (v > hi ? hi : v);
        }
        y[i * stride] = (int8_t)v;
    }
}

/* The requantized, clamped output of one feature's 32-bit accumulator (requant32 row q, fast form). */
static int8_t efm_fc_out32(const int32_t *q, int32_t acc, int act, int32_t lo, int32_t hi) {
    int32_t v = q[2] < 0 ? efm_smmulr(acc, q[0]) + q[1] : (efm_smmul(acc, q[0]) + q[1]) >> q[2];
    v = efm_ssat8(v);
    if (act) {
        v = v < lo ? lo : (v > hi ? hi : v);
    }
    return (int8_t)v;
}

/* One input row with the int16 weights (p->w16): the row is widened once into the scratch as int16 pairs in
 * SXTB16 lane order ((x0, x2), (x1, x3) per group of four, the order of the weights), then the output features go
 * in pairs through efm_dot16x2; depth % 8 inputs and an odd last feature in C. */
static void efm_fc_row16(const efm_fully_connected_params *p, const int8_t *xr, const int8_t *w, int8_t *yr,
                         uint32_t *x16, int act) {
    const int32_t depth = p->depth, cols = p->cols, groups = depth >> 3, main = groups << 3;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t k = 0; k < main; k += 4) {
        const uint32_t v = efm_load4(xr + k);
        x16[k >> 1] = efm_sxtb16(v);
        x16[(k >> 1) + 1] = efm_sxtb16_ror8(v);
    }
    const int16_t *wp = p->w16;
    const int32_t *q = p->requant32;
    int32_t c = 0;
    for (; c + 2 <= cols; c += 2, wp += 16 * groups, q += 8) {
        int32_t a0 = q[3], a1 = q[7];
        efm_dot16x2(x16, wp, groups, &a0, &a1);
        for (int32_t k = main; k < depth; k++) {
            a0 += (int32_t)xr[k] * w[c * depth + k];
            a1 += (int32_t)xr[k] * w[(c + 1) * depth + k];
        }
        yr[c] = efm_fc_out32(q, a0, act, lo, hi);
        yr[c + 1] = efm_fc_out32(q + 4, a1, act, lo, hi);
    }
    for (; c < cols; c++, q += 4) {
        int32_t a = q[3];
        for (int32_t k = 0; k < depth; k++) {
            a += (int32_t)xr[k] * w[c * depth + k];
        }
        yr[c] = efm_fc_out32(q, a, act, lo, hi);
    }
}

void efm_fully_connected(const efm_fully_connected_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         int8_t *y, void *scratch) {
    (void)bias; /* folded into p->bias_adj */
    const int32_t depth = p->depth, cols = p->cols, rows = p->rows;
    const int32_t groups = depth >> 2, tail = depth & 3;
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    const int act = lo > -128 || hi < 127;
    uint32_t *xs = (uint32_t *)scratch;
    int32_t r = 0;
    if (rows >= 4 && groups > 0) {
        int fast = 1;
        for (int32_t c = 0; c < cols; c++) {
            fast &= p->requant32[4 * c + 2] >= -1;
        }
        if (fast && tail == 0) {
            /* Blocks of six rows, then four; at most 3 rows left for the single-row path. */
            int32_t n6 = 0, n4 = rows / 4;
            if (p->arm_block_rows == 6) {
                efm_panel_blocks(rows, &n6, &n4);
            }
            efm_fc_panel pp = {p->requant32, y, cols, y + cols, xs, groups % EFM_PANEL_UNROLL, w, act, lo, hi};
            for (int32_t b = 0; b < n6 + n4; b++) {
                const int32_t n = b < n6 ? 6 : 4;
                efm_unpack_rows(x + r * depth, depth, groups, n, xs);
                pp.q = p->requant32;
                pp.y = y + r * cols;
                pp.y_end = pp.y + cols;
                if (n == 6) {
                    efm_fc_panel6(&pp);
                } else {
                    efm_fc_panel4(&pp);
                }
                r += n;
            }
        } else {
            for (; r + 4 <= rows; r += 4) {
                const int8_t *xr = x + r * depth;
                efm_unpack_rows(xr, depth, groups, 4, xs);
                const int8_t *wc = w;
                const int32_t *q = p->requant32;
                int8_t *yc = y + r * cols;
                for (int32_t c = 0; c < cols; c++, wc += depth, q += 4, yc++) {
                    const int32_t a0 = q[2] >= -1 ? q[3] : 0;
                    int32_t acc[4] = {a0, a0, a0, a0};
                    efm_dot4x1_acc(xs, wc, groups, acc);
                    for (int32_t k = depth - tail; k < depth; k++) {
                        for (int32_t i = 0; i < 4; i++) {
                            acc[i] += (int32_t)xr[i * depth + k] * wc[k];
                        }
                    }
                    if (q[2] >= -1) {
                        efm_fc_out4(q, acc, yc, cols, act, lo, hi);
                    } else {
                        for (int32_t i = 0; i < 4; i++) {
                            yc[i * cols] = efm_fc_out((int64_t)acc[i] + p->bias_adj[c], p->mult[c], p->shift[c], zp,
                                                      lo, hi);
                        }
                    }
                }
            }
        }
    }
    if (p->w16 != NULL && scratch != NULL) { /* every feature has the 32-bit requantization (the emitter checks) */
        for (; r < rows; r++) {
            efm_fc_row16(p, x + r * depth, w, y + r * cols, (uint32_t *)scratch, act);
        }
    }
    for (; r < rows; r++) {
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
            y[r * cols + c] = efm_fc_out((int64_t)acc + p->bias_adj[c], p->mult[c], p->shift[c], zp, lo, hi);
        }
    }
}

#endif
