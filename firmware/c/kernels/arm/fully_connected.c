/* FULLY_CONNECTED for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/fully_connected.c.
 *
 * The input zero point is folded into a per-output-feature bias at generation time (bias - zp * sum(w)), so the
 * inner loop is a plain int8 dot product, and the accumulators start from that bias. Rows are processed in blocks
 * of six (where the emitter gives p->arm_block_rows 6: at least six rows and at most 1 KiB of extra scratch) or
 * four: their int8 values are unpacked once into int16 pairs in the kernel scratch, and each 32-bit weight word is
 * loaded and unpacked (SXTB16) once for the whole block: per group of four inputs one weight load, two SXTB16,
 * three LDM and twelve SMLAD (dual 16-bit MACs) for 24 MACs (0.75 instructions per MAC; the 0.5 bound is the SMLAD
 * alone). The panel runs all output features of a block in one assembly loop: the first group starts the
 * accumulators from the feature's adj, the others run in a 16-group unroll entered by TBH; then the 32-bit
 * requantization (SMMLA + ASR + SSAT, or SMMLAR + SSAT out of line), the activation clamp (out of line) and the
 * stores, with 13 instructions of bookkeeping per feature (the emitter checks the requantization forms and lays the
 * table out for one LDM per feature; see docs/firmware.md). Depths that are not a multiple of 4, features with the
 * 64-bit requantization (the whole op then takes the C 4-row path) and rows outside the blocks take the C paths
 * below. Ops with fewer than four rows (the
 * matrix-vector products of a streaming step) use int16 weights prepared at generation time (p->w16) where every
 * feature has the 32-bit requantization: two features per pass, 16 MACs in 12 instructions, all pairs in one loop nest
 * (efm_fc_mv_dot), then the requantization. */
#ifdef EFM_ARM_FULLY_CONNECTED

#include <stddef.h>
#include <stdint.h>

#include "efm_arm.h"
#include "efm_kernel.h"
#include "fully_connected.h"

/* The requantized, clamped output of one accumulator in 64 bits (the general case). */
static int8_t efm_fc_out(int64_t total, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
    const int64_t v = efm_mbqm_single(total, mult, shift) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* The state of one panel call (the assembly addresses the fields by offset). requant32 rows are {M, offset,
 * rshift, adj of the next feature} per output feature, the first feature's adj before them (see efm_fc_out4). The
 * output of feature c is y_base + (&requant32[4 * (c + 1)] >> 4) (one ADD per feature, no pointer to keep). */
typedef struct {
    int8_t *y_base;       /*  0: y - (&requant32[4] >> 4) (as integers) */
    int32_t y_stride;     /*  4: bytes between output rows */
    const int32_t *q_end; /*  8: requant32 after the last feature */
    int32_t act;          /* 12: clamp to [lo, hi] (an activation narrower than int8) */
    const int32_t *q;     /* 16: requant32 row of the current output feature */
    const uint32_t *xs;   /* 20: unpacked rows */
    int32_t rem;          /* 24: (groups - 1) % EFM_FC_UNROLL */
    int32_t lo;           /* 28 */
    int32_t hi;           /* 32 */
    const int8_t *w;      /* 36: first weight row (the rows are contiguous) */
} efm_fc_panel;

typedef char efm_fc_panel_layout[(offsetof(efm_fc_panel, y_stride) == 4 && offsetof(efm_fc_panel, q_end) == 8 &&
                                  offsetof(efm_fc_panel, act) == 12 && offsetof(efm_fc_panel, q) == 16 &&
                                  offsetof(efm_fc_panel, xs) == 20 && offsetof(efm_fc_panel, rem) == 24 &&
                                  offsetof(efm_fc_panel, lo) == 28 && offsetof(efm_fc_panel, w) == 36)
                                     ? 1
                                     : -1];

/* The first group of a feature: the accumulators start from its adj (r6) in the SMLAD itself; the rows are loaded
 * into r5, r7, r12, lr (r4 keeps the dispatch index; in the 6-row panel the last row, whose words are in r12 and lr,
 * is summed first). */
#define EFM_FC_FIRST2(a, b)                                                                                     \
    "ldmia r0!, {r5, r7, r12, lr}\n\t" "smlad " a ", r5, r3, r6\n\t" "smlad " a ", r7, r2, " a "\n\t"         \
    "smlad " b ", r12, r3, r6\n\t" "smlad " b ", lr, r2, " b "\n\t"
/* The 4-row panel's first group without r12 and lr (they keep the state and the row pointer): rows 1 and 3 loaded
 * into the accumulators of rows 2 and 3. */
#define EFM_FC_FIRST4_LOW                                                                                       \
    EFM_PG_HEAD "ldmia r0!, {r5, r7, r10, r11}\n\t" "smlad r8, r5, r3, r6\n\t" "smlad r8, r7, r2, r8\n\t"          \
    "smlad r9, r10, r3, r6\n\t" "smlad r9, r11, r2, r9\n\t" "ldmia r0!, {r5, r7, r10, r11}\n\t"                   \
    "smlad r11, r11, r2, r6\n\t" "smlad r11, r10, r3, r11\n\t" "smlad r10, r5, r3, r6\n\t"                       \
    "smlad r10, r7, r2, r10\n\t"
#define EFM_FC_FIRST6                                                                                           \
    EFM_PG_HEAD EFM_FC_FIRST2("r8", "r9") EFM_FC_FIRST2("r10", "r11") "ldmia r0!, {r5, r7, r12, lr}\n\t"           \
    "smlad lr, lr, r2, r6\n\t" "smlad lr, r12, r3, lr\n\t"                                                         \
    "smlad r12, r5, r3, r6\n\t" "smlad r12, r7, r2, r12\n\t"
/* (SMMUL(a, M) + offset) >> rshift, saturated to int8 (M r3, offset r4, rshift r5). */
#define EFM_FC_RQ(a) "smmla " a ", " a ", r3, r4\n\t" "asr " a ", " a ", r5\n\t" "ssat " a ", #8, " a "\n\t"
/* SMMULR(a, M) + zp (rshift 0: t = 32). */
#define EFM_FC_RQR(a) "smmlar " a ", " a ", r3, r4\n\t" "ssat " a ", #8, " a "\n\t"
/* max(lo, min(hi, a)) with lo r4, hi r5. */
#define EFM_FC_CLAMP(a) "cmp " a ", r4\n\t" "it lt\n\t" "movlt " a ", r4\n\t" "cmp " a ", r5\n\t" "it gt\n\t" \
    "movgt " a ", r5\n\t"
#define EFM_FC_EACH4(M) M("r8") M("r9") M("r10") M("r11")
#define EFM_FC_EACH6(M) EFM_FC_EACH4(M) M("r12") M("lr")
/* Stores the int8 results to r2 + i * r3 (uses r5). */
#define EFM_FC_STORE4                                                                                           \
    "strb r8, [r2]\n\t" "strb r9, [r2, r3]\n\t" "strb r10, [r2, r3, lsl #1]\n\t" "add r5, r2, r3\n\t"          \
    "strb r11, [r5, r3, lsl #1]\n\t"
#define EFM_FC_STORE6 EFM_FC_STORE4 "strb r12, [r2, r3, lsl #2]\n\t" "strb lr, [r5, r3, lsl #2]\n\t"

/* The dot-product loop: the first group (accumulators set from r6), then the other groups % EFM_FC_UNROLL through a
 * TBH table (none: straight to the end test at 46), then whole unrolled passes (copies 30-45) up to the sentinel. */
#define EFM_FC_UNROLL 16
#define EFM_FC_LOOP(FIRST, G)                                                                                   \
    "5:\n\t" FIRST                                                                                              \
    "tbh [pc, r4, lsl #1]\n\t"                                                                                  \
    "6:\n\t"                                                                                                    \
    ".hword (46f - 6b) / 2, (45f - 6b) / 2, (44f - 6b) / 2, (43f - 6b) / 2\n\t"                                 \
    ".hword (42f - 6b) / 2, (41f - 6b) / 2, (40f - 6b) / 2, (39f - 6b) / 2\n\t"                                 \
    ".hword (38f - 6b) / 2, (37f - 6b) / 2, (36f - 6b) / 2, (35f - 6b) / 2\n\t"                                 \
    ".hword (34f - 6b) / 2, (33f - 6b) / 2, (32f - 6b) / 2, (31f - 6b) / 2\n\t"                                 \
    "30:\n\t" G "31:\n\t" G "32:\n\t" G "33:\n\t" G "34:\n\t" G "35:\n\t" G "36:\n\t" G "37:\n\t" G         \
    "38:\n\t" G "39:\n\t" G "40:\n\t" G "41:\n\t" G "42:\n\t" G "43:\n\t" G "44:\n\t" G "45:\n\t" G         \
    "46:\n\t"                                                                                                   \
    "ldr r4, [r0]\n\t"                                                                                          \
    "cmp r4, #0x80008000\n\t"                                                                                   \
    "bne 30b\n\t"

/* Per output feature after the loop: requantize (the rshift 0 form out of line at label 20), clamp (out of line
 * at 23), store, step to the next feature (r7: its requant32 row; r6 its adj) or leave. */
#define EFM_FC_PANEL_ASM(FIRST, GROUP, EACH, STORE)                                                             \
    "ldr r0, %[p]\n\t"                                                                                          \
    "ldr r2, [r0, #16]\n\t"                                                                                     \
    "ldr r6, [r2, #-4]\n\t"                                                                                     \
    "ldr r1, [r0, #36]\n\t"                                                                                     \
    "ldrd r0, r4, [r0, #20]\n\t" EFM_FC_LOOP(FIRST, GROUP) "ldr r0, %[p]\n\t"                                  \
    "ldr r7, [r0, #16]\n\t"                                                                                     \
    "ldmia r7!, {r3, r4, r5, r6}\n\t"                                                                           \
    "str r7, [r0, #16]\n\t"                                                                                     \
    "cbz r5, 20f\n\t" EACH(EFM_FC_RQ) "21:\n\t"                                                                     \
    "ldmia r0, {r2, r3, r4, r5}\n\t"                                                                            \
    "cbnz r5, 23f\n\t"                                                                                          \
    "22:\n\t"                                                                                                   \
    "add r2, r2, r7, lsr #4\n\t" STORE "cmp r7, r4\n\t"                                                         \
    "ldrd r0, r4, [r0, #20]\n\t"                                                                                \
    "bne 5b\n\t"                                                                                               \
    "b 29f\n"                                                                                                   \
    "20:\n\t" EACH(EFM_FC_RQR) "b 21b\n"                                                                        \
    "23:\n\t"                                                                                                   \
    "ldrd r4, r5, [r0, #28]\n\t" EACH(EFM_FC_CLAMP) "ldr r4, [r0, #8]\n\t"                                     \
    "b 22b\n"                                                                                                   \
    "29:\n\t"

/* The 4-row panel keeps the state in lr and the requant32 row pointer in r12 (free in its loop): 3 instructions
 * fewer per feature. */
#define EFM_FC_PANEL4_ASM                                                                                       \
    "ldr lr, %[p]\n\t"                                                                                          \
    "ldr r12, [lr, #16]\n\t"                                                                                    \
    "ldr r6, [r12, #-4]\n\t"                                                                                    \
    "ldr r1, [lr, #36]\n\t"                                                                                     \
    "ldrd r0, r4, [lr, #20]\n\t" EFM_FC_LOOP(EFM_FC_FIRST4_LOW, EFM_PG4)                                        \
    "ldmia r12!, {r3, r4, r5, r6}\n\t"                                                                          \
    "cbz r5, 20f\n\t" EFM_FC_EACH4(EFM_FC_RQ) "21:\n\t"                                                          \
    "ldmia lr, {r2, r3, r4, r5}\n\t"                                                                            \
    "cbnz r5, 23f\n\t"                                                                                          \
    "22:\n\t"                                                                                                   \
    "add r2, r2, r12, lsr #4\n\t" EFM_FC_STORE4 "cmp r12, r4\n\t"                                               \
    "ldrd r0, r4, [lr, #20]\n\t"                                                                                \
    "bne 5b\n\t"                                                                                                \
    "b 29f\n"                                                                                                   \
    "20:\n\t" EFM_FC_EACH4(EFM_FC_RQR) "b 21b\n"                                                                \
    "23:\n\t"                                                                                                   \
    "ldrd r4, r5, [lr, #28]\n\t" EFM_FC_EACH4(EFM_FC_CLAMP) "ldr r4, [lr, #8]\n\t"                             \
    "b 22b\n"                                                                                                   \
    "29:\n\t"

#define EFM_FC_CLOBBERS "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", \
    "memory"

__attribute__((noinline)) static void efm_fc_panel4(efm_fc_panel *p) {
    __asm__ volatile(EFM_FC_PANEL4_ASM
                     :
                     : [p] "m"(p)
                     : EFM_FC_CLOBBERS);
}

__attribute__((noinline)) static void efm_fc_panel6(efm_fc_panel *p) {
    __asm__ volatile(EFM_FC_PANEL_ASM(EFM_FC_FIRST6, EFM_PG6, EFM_FC_EACH6, EFM_FC_STORE6)
                     :
                     : [p] "m"(p)
                     : EFM_FC_CLOBBERS);
}

/* Four groups of one row: LDM of 16 int8 (a word-aligned row), eight SXTB16, four STRD to o + k * N8 bytes. */
#define EFM_FC_UNPACK_STEP(N8)                                                                                  \
    "1:\n\t"                                                                                                    \
    "ldmia %[s]!, {r4, r5, r6, r7}\n\t"                                                                         \
    "sxtb16 %[t0], r4\n\t" "sxtb16 %[t1], r4, ror #8\n\t" "strd %[t0], %[t1], [%[o]]\n\t"                      \
    "sxtb16 %[t0], r5\n\t" "sxtb16 %[t1], r5, ror #8\n\t" "strd %[t0], %[t1], [%[o], #" #N8 "]\n\t"            \
    "sxtb16 %[t0], r6\n\t" "sxtb16 %[t1], r6, ror #8\n\t" "strd %[t0], %[t1], [%[o], #2 * " #N8 "]\n\t"        \
    "sxtb16 %[t0], r7\n\t" "sxtb16 %[t1], r7, ror #8\n\t" "strd %[t0], %[t1], [%[o], #3 * " #N8 "]\n\t"        \
    "add %[o], %[o], #4 * " #N8 "\n\t"                                                                          \
    "subs %[k], %[k], #1\n\t"                                                                                   \
    "bne 1b\n\t"

/* efm_unpack_rows for n = 4 or 6 word-aligned rows (a constant after inlining), four groups per step. */
static inline __attribute__((always_inline)) void efm_fc_unpack_n(const int8_t *x, int32_t stride, int32_t groups,
                                                                  uint32_t *dst, const int32_t n) {
    for (int32_t i = 0; i < n; i++, x += stride) {
        const int8_t *s = x;
        uint32_t *d = dst + 2 * i;
        int32_t k = groups >> 2;
        if (k > 0) {
            uint32_t t0, t1;
            if (n == 6) {
                __asm__ volatile(EFM_FC_UNPACK_STEP(48)
                                 : [s] "+r"(s), [o] "+r"(d), [k] "+r"(k), [t0] "=&r"(t0), [t1] "=&r"(t1)
                                 :
                                 : "r4", "r5", "r6", "r7", "cc", "memory");
            } else {
                __asm__ volatile(EFM_FC_UNPACK_STEP(32)
                                 : [s] "+r"(s), [o] "+r"(d), [k] "+r"(k), [t0] "=&r"(t0), [t1] "=&r"(t1)
                                 :
                                 : "r4", "r5", "r6", "r7", "cc", "memory");
            }
        }
        for (int32_t g = groups & 3; g > 0; g--, s += 4, d += 2 * n) {
            const uint32_t v = efm_load4(s);
            d[0] = efm_sxtb16(v);
            d[1] = efm_sxtb16_ror8(v);
        }
    }
    dst[2 * n * groups] = EFM_PANEL_SENTINEL;
}

/* Unpacks n = 4 or 6 rows in efm_unpack_rows' layout (the sentinel after); x and the row stride word-aligned (the
 * arena's tensors are 16-byte aligned), else efm_unpack_rows. */
static void efm_fc_unpack(const int8_t *x, int32_t stride, int32_t groups, int32_t n, uint32_t *dst) {
    if ((((uintptr_t)x | (uintptr_t)stride) & 3) != 0) {
        efm_unpack_rows(x, stride, groups, n, dst);
    } else if (n == 6) {
        efm_fc_unpack_n(x, stride, groups, dst, 6);
    } else {
        efm_fc_unpack_n(x, stride, groups, dst, 4);
    }
}

/* Rows r..r+3 (`stride` bytes apart) of one output feature with the table row q in C (depth tails). */
static void efm_fc_out4(const int32_t *q, const int32_t acc[4], int8_t *y, int32_t stride, int act, int32_t lo,
                        int32_t hi) {
    for (int32_t i = 0; i < 4; i++) {
        int32_t v = q[2] == 0 ? efm_smmulr(acc[i], q[0]) + q[1] : (efm_smmul(acc[i], q[0]) + q[1]) >> q[2];
        v = efm_ssat8(v);
        if (act) {
            v = v < lo ? lo : (v > hi ? hi : v);
        }
        y[i * stride] = (int8_t)v;
    }
}

/* The requantized, clamped output of one feature's 32-bit accumulator (requant32 row q, fast form). */
static int8_t efm_fc_out32(const int32_t *q, int32_t acc, int act, int32_t lo, int32_t hi) {
    int32_t v = q[2] == 0 ? efm_smmulr(acc, q[0]) + q[1] : (efm_smmul(acc, q[0]) + q[1]) >> q[2];
    v = efm_ssat8(v);
    if (act) {
        v = v < lo ? lo : (v > hi ? hi : v);
    }
    return (int8_t)v;
}

/* The state of efm_fc_mv_dot (the assembly addresses the fields by offset). */
typedef struct {
    const uint32_t *x;  /*  0: the widened row */
    int32_t groups1;    /*  4: groups of 8 inputs (>= 1) + 1 */
    const int32_t *q;   /*  8: requant32 row of the pair's first feature (its adj the word before) */
    int32_t *acc;       /* 12: the accumulators out */
    int32_t pairs;      /* 16: feature pairs (>= 1) */
    const int16_t *w;   /* 20: p->w16 */
} efm_fc_mv;

/* One group of 8 inputs for two features: the inputs' int16 pairs from r2, each feature's weight pairs from r3,
 * SMLAD into r0 (first feature) and r1 (second). */
#define EFM_FC_MV_GROUP                                                                                         \
    "ldmia r2!, {r4, r5, r6, r7}\n\t"                                                                            \
    "ldmia r3!, {r8, r9, r10, r11}\n\t"                                                                          \
    "smlad r0, r4, r8, r0\n\t"                                                                                   \
    "smlad r0, r5, r9, r0\n\t"                                                                                   \
    "smlad r0, r6, r10, r0\n\t"                                                                                  \
    "smlad r0, r7, r11, r0\n\t"                                                                                  \
    "ldmia r3!, {r8, r9, r10, r11}\n\t"                                                                          \
    "smlad r1, r4, r8, r1\n\t"                                                                                   \
    "smlad r1, r5, r9, r1\n\t"                                                                                   \
    "smlad r1, r6, r10, r1\n\t"                                                                                  \
    "smlad r1, r7, r11, r1\n\t"

/* All feature pairs of one row in one loop nest, its state in registers (r4-r8 = the first five fields, saved
 * around the dot product in *s, held in lr): per pair the accumulators start from the features' adj, run
 * efm_dot16x2's 16 MACs in 12 instructions per group (two groups a loop pass, an odd count entering at the second)
 * and go to s->acc (11 instructions of bookkeeping a pair). */
__attribute__((noinline)) static void efm_fc_mv_dot(efm_fc_mv *s) {
    __asm__ volatile("ldr lr, %[s]\n\t"
                     "ldr r3, [lr, #20]\n\t"
                     "ldmia lr, {r4, r5, r6, r7, r8}\n\t"
                     "1:\n\t"
                     "mov r2, r4\n\t"
                     "lsrs r12, r5, #1\n\t"
                     "ldr r0, [r6, #-4]\n\t"
                     "ldr r1, [r6, #12]\n\t"
                     "stmia lr, {r4, r5, r6, r7, r8}\n\t"
                     "bcc 3f\n\t"
                     "2:\n\t"
                     EFM_FC_MV_GROUP
                     "3:\n\t"
                     EFM_FC_MV_GROUP
                     "subs r12, r12, #1\n\t"
                     "bne 2b\n\t"
                     "ldmia lr, {r4, r5, r6, r7, r8}\n\t"
                     "stmia r7!, {r0, r1}\n\t"
                     "adds r6, r6, #32\n\t"
                     "subs r8, r8, #1\n\t"
                     "bne 1b\n\t"
                     :
                     : [s] "m"(s)
                     : EFM_FC_CLOBBERS);
}

/* One input row with the int16 weights (p->w16): the row is widened once into the scratch as int16 pairs in
 * SXTB16 lane order ((x0, x2), (x1, x3) per group of four, the order of the weights), the output features' dot
 * products go in pairs through efm_fc_mv_dot into the scratch after it, then each is requantized; depth % 8 inputs
 * and an odd last feature in C. */
static void efm_fc_row16(const efm_fully_connected_params *p, const int8_t *xr, const int8_t *w, int8_t *yr,
                         uint32_t *x16, int act) {
    const int32_t depth = p->depth, cols = p->cols, groups = depth >> 3, main = groups << 3;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t k = 0; k < main; k += 4) {
        const uint32_t v = efm_load4(xr + k);
        x16[k >> 1] = efm_sxtb16(v);
        x16[(k >> 1) + 1] = efm_sxtb16_ror8(v);
    }
    int32_t *acc = (int32_t *)(x16 + (main >> 1));
    const int32_t even = cols & ~1;
    if (even > 0) {
        efm_fc_mv s = {x16, groups + 1, p->requant32, acc, even >> 1, p->w16};
        efm_fc_mv_dot(&s);
    }
    const int32_t *q = p->requant32;
    int32_t c = 0;
    if (main == depth && !act) { /* the common case without the tail and the clamp */
        for (; c < even; c++, q += 4) {
            const int32_t a = acc[c];
            yr[c] = (int8_t)efm_ssat8(q[2] == 0 ? efm_smmulr(a, q[0]) + q[1] : (efm_smmul(a, q[0]) + q[1]) >> q[2]);
        }
    }
    for (; c < even; c++, q += 4) {
        int32_t a = acc[c];
        for (int32_t k = main; k < depth; k++) {
            a += (int32_t)xr[k] * w[c * depth + k];
        }
        yr[c] = efm_fc_out32(q, a, act, lo, hi);
    }
    for (; c < cols; c++, q += 4) {
        int32_t a = q[-1];
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
        if (p->arm_block_rows != 0) { /* depth % 4 == 0, every feature 32-bit (the emitter checks) */
            /* Blocks of six rows, then four; at most 3 rows left for the single-row path. */
            int32_t n6 = 0, n4 = rows / 4;
            if (p->arm_block_rows == 6) {
                efm_panel_blocks(rows, &n6, &n4);
            }
            const int32_t *q_end = p->requant32 + 4 * cols;
            efm_fc_panel pp = {y, cols, q_end, act, p->requant32, xs, (groups - 1) % EFM_FC_UNROLL, lo, hi, w};
            for (int32_t b = 0; b < n6 + n4; b++) {
                const int32_t n = b < n6 ? 6 : 4;
                efm_fc_unpack(x + r * depth, depth, groups, n, xs);
                pp.q = p->requant32;
                pp.y_base = (int8_t *)((uintptr_t)(y + r * cols) - ((uintptr_t)p->requant32 >> 4) - 1u);
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
                efm_fc_unpack(xr, depth, groups, 4, xs);
                const int8_t *wc = w;
                const int32_t *q = p->requant32;
                int8_t *yc = y + r * cols;
                for (int32_t c = 0; c < cols; c++, wc += depth, q += 4, yc++) {
                    const int32_t a0 = q[2] >= 0 ? q[-1] : 0;
                    int32_t acc[4] = {a0, a0, a0, a0};
                    efm_dot4x1_acc(xs, wc, groups, acc);
                    for (int32_t k = depth - tail; k < depth; k++) {
                        for (int32_t i = 0; i < 4; i++) {
                            acc[i] += (int32_t)xr[i * depth + k] * wc[k];
                        }
                    }
                    if (q[2] >= 0) {
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
