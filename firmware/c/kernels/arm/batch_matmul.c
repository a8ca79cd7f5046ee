/* BATCH_MATMUL for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/batch_matmul.c.
 *
 * The products run on the register-blocked panels of efm_arm.h (blocks of six or four lhs rows unpacked to int16
 * pairs, each rhs "column" word loaded and unpacked once per block, SMLAD), so the rhs must run contiguously along
 * the depth: Q.K^T (adj_y) does; for P.V (adj_y false, rhs [depth, cols]) the rhs of each batch is first transposed
 * into the kernel scratch as int8 [cols, depth rounded up to a multiple of 4, zero padded] (4 x 4 byte blocks; once
 * per distinct rhs batch: a broadcast rhs is transposed once). The lhs is unpacked as 2 (l - zl), so the inner loop
 * is a pure SMLAD and the rhs zero point leaves one term per row, the accumulators' start:
 *   sum (l - zl)(r - zr) = sum (l - zl) r - zr sum (l - zl).
 * The requantization (gemmlowp's double rounding, output zero point included) is a sign correction + SMMLAR +
 * shift + SSAT (efm_bmm_rq2). Operands are addressed through strides (folded transposes included). Rhs depths that
 * are not a multiple of 4 (adj_y), rows outside the blocks and multipliers outside the fast form take the C paths;
 * a lhs that is not contiguous along the depth (adj_x) takes the portable loop. Small products (the 16-token
 * attention) take the pair path below instead (p->arm_block_rows == 2, chosen by the emitter). */
#ifdef EFM_ARM_BATCH_MATMUL

#include <stddef.h>

#include "batch_matmul.h"
#include "efm_arm.h"
#include "efm_kernel.h"

static int8_t efm_bmm_out(const efm_batch_matmul_params *p, int32_t acc) {
    const int64_t v = efm_mbqm_double(acc, p->mult, p->shift) + p->output_zp;
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static void efm_bmm_strided(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y) {
    for (int32_t r = 0; r < p->rows; r++, y += p->y_row_stride) {
        const int8_t *lr = lhs + r * p->lhs_row_stride;
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *rc = rhs + c * p->rhs_col_stride;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; k++) {
                acc += ((int32_t)lr[k * p->lhs_depth_stride] - p->lhs_zp) *
                       ((int32_t)rc[k * p->rhs_depth_stride] - p->rhs_zp);
            }
            y[c] = efm_bmm_out(p, acc);
        }
    }
}

/* The state of one panel call (the assembly addresses the fields by offset). */
typedef struct {
    int32_t rt[6];       /*  0: row terms, the accumulators' start: -zr * sum_k 2 (l - zl) */
    int8_t *y;           /* 24: output of the block's first row, current column */
    int32_t y_stride;    /* 28 */
    const int8_t *y_end; /* 32 */
    int32_t w_skip;      /* 36: bytes between one rhs column's end and the next one's start */
    const uint32_t *xs;  /* 40: unpacked rows, 2 (l - zl) */
    int32_t rem;         /* 44: groups % EFM_PANEL_UNROLL */
    const int8_t *w;     /* 48: first rhs column */
    int32_t m;           /* 52: multiplier */
    int32_t k;           /* 56: rounding offset with the output zero point (efm_bmm_rq2) */
    int32_t s;           /* 60: right shift */
} efm_bmm_panel;

typedef char efm_bmm_panel_layout[(offsetof(efm_bmm_panel, y) == 24 && offsetof(efm_bmm_panel, y_end) == 32 &&
                                   offsetof(efm_bmm_panel, w_skip) == 36 && offsetof(efm_bmm_panel, xs) == 40 &&
                                   offsetof(efm_bmm_panel, rem) == 44 && offsetof(efm_bmm_panel, w) == 48 &&
                                   offsetof(efm_bmm_panel, m) == 52 && offsetof(efm_bmm_panel, s) == 60)
                                      ? 1
                                      : -1];

/* gemmlowp's double-rounding requantization + output zero point of an accumulator a2 = 2 a (|a| < 2^29), for e =
 * -shift in 1..22. SaturatingRoundingDoublingHighMul(a, M) = floor((a M + 2^30) / 2^31) (its nudge for a negative
 * product and the truncation toward zero make the same floor) = SMMULR(2 a, M); RoundingDivideByPOT(x, e) + zp =
 * floor((x + 2^(e-1) - [x < 0]) / 2^e) + zp, and x < 0 only where a < 0 (x = 0 rounds to 0 either way). So
 *   y = (SMMLAR(a2, M, k + (a2 >> 31))) >> e,  k = 2^(e-1) + zp 2^e
 * (SMMLAR adds its accumulator above the rounded product). Returns 0 where this does not apply (the caller keeps
 * the 64-bit form). */
static int efm_bmm_rq2_consts(const efm_batch_matmul_params *p, int32_t *k, int32_t *s) {
    const int32_t e = -p->shift;
    if (e < 1 || e > 22 || p->mult < 0 || p->depth > 8000) {
        return 0;
    }
    *k = (1 << (e - 1)) + p->output_zp * (1 << e);
    *s = e;
    return 1;
}

static inline int8_t efm_bmm_rq2(int32_t a2, int32_t m, int32_t k, int32_t s) {
    return (int8_t)efm_ssat8(efm_smmlar(a2, m, k + (a2 >> 31)) >> s);
}

#define EFM_BMM_EACH4(M) M("r8") M("r9") M("r10") M("r11")
#define EFM_BMM_EACH6(M) EFM_BMM_EACH4(M) M("r12") M("lr")
/* efm_bmm_rq2 in place (M r2, k r3, shift r5). */
#define EFM_BMM_RQ(a)                                                                                           \
    "add r6, r3, " a ", asr #31\n\t"                                                                            \
    "smmlar " a ", " a ", r2, r6\n\t"                                                                           \
    "asr " a ", " a ", r5\n\t"                                                                                  \
    "ssat " a ", #8, " a "\n\t"

#define EFM_BMM_PANEL_ASM(ACCS, GROUP, EACH, STORE)                                                             \
    "ldr r0, %[p]\n\t"                                                                                          \
    "ldr r1, [r0, #48]\n\t"                                                                                     \
    "ldmia r0, {" ACCS "}\n\t"                                                                                  \
    "ldrd r0, r4, [r0, #40]\n\t" EFM_PANEL_LOOP(GROUP) "ldr r0, %[p]\n\t"                                       \
    "ldrd r2, r3, [r0, #52]\n\t"                                                                                \
    "ldr r5, [r0, #60]\n\t" EACH(EFM_BMM_RQ) "ldrd r2, r3, [r0, #24]\n\t" STORE "adds r2, #1\n\t"              \
    "str r2, [r0, #24]\n\t"                                                                                     \
    "ldrd r3, r6, [r0, #32]\n\t"                                                                                \
    "cmp r2, r3\n\t"                                                                                            \
    "beq 29f\n\t"                                                                                               \
    "add r1, r6\n\t"                                                                                            \
    "ldmia r0, {" ACCS "}\n\t"                                                                                  \
    "ldrd r0, r4, [r0, #40]\n\t"                                                                                \
    "b 5b\n"                                                                                                    \
    "29:\n\t"

#define EFM_BMM_CLOBBERS "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", \
    "cc", "memory"

__attribute__((noinline)) static void efm_bmm_panel4(efm_bmm_panel *p) {
    __asm__ volatile(EFM_BMM_PANEL_ASM("r8-r11", EFM_PG4, EFM_BMM_EACH4, EFM_PANEL_STORE4)
                     :
                     : [p] "m"(p)
                     : EFM_BMM_CLOBBERS);
}

__attribute__((noinline)) static void efm_bmm_panel6(efm_bmm_panel *p) {
    __asm__ volatile(EFM_BMM_PANEL_ASM("r8-r12, lr", EFM_PG6, EFM_BMM_EACH6, EFM_PANEL_STORE6)
                     :
                     : [p] "m"(p)
                     : EFM_BMM_CLOBBERS);
}

/* The last, partial group of a row (tail values) padded with zeros (the transposed rhs rows are padded likewise);
 * returns its sum. */
__attribute__((noinline)) static int32_t efm_bmm_unpack_tail(const int8_t *src, int32_t tail, int32_t zl,
                                                             uint32_t *d) {
    int32_t v[4] = {0, 0, 0, 0};
    for (int32_t j = 0; j < tail; j++) {
        v[j] = 2 * ((int32_t)src[j] - zl);
    }
    d[0] = ((uint32_t)v[0] & 0xFFFFu) | ((uint32_t)v[2] << 16);
    d[1] = ((uint32_t)v[1] & 0xFFFFu) | ((uint32_t)v[3] << 16);
    return v[0] + v[1] + v[2] + v[3];
}

/* Unpacks `n` lhs rows as int16 pairs of 2 (l - zl) (efm_unpack_rows' layout, sentinel after) and returns each
 * row's term -zr * sum_k 2 (l - zl) in rt. mz: -zl in both halfword lanes (SXTAB16 extracts and subtracts). */
static inline __attribute__((always_inline)) void efm_bmm_unpack_n(const int8_t *x, int32_t stride, int32_t depth,
                                                                  const int32_t n, uint32_t mz, int32_t zr,
                                                                  uint32_t *dst, int32_t *rt) {
    const int32_t groups = depth >> 2, tail = depth & 3, zl = -(int32_t)(int16_t)mz;
    for (int32_t i = 0; i < n; i++, x += stride) {
        const int8_t *src = x;
        uint32_t *d = dst + 2 * i;
        int32_t sum = 0;
        for (int32_t g = groups; g > 0; g--, src += 4, d += 2 * n) {
            const uint32_t v = efm_load4(src);
            uint32_t a, b;
            __asm__("sxtab16 %0, %2, %3\n\t"
                    "sxtab16 %1, %2, %3, ror #8\n\t"
                    "sadd16 %0, %0, %0\n\t"
                    "sadd16 %1, %1, %1\n\t"
                    : "=&r"(a), "=&r"(b)
                    : "r"(mz), "r"(v));
            d[0] = a;
            d[1] = b;
            sum = efm_smlad(a, 0x00010001u, efm_smlad(b, 0x00010001u, sum));
        }
        if (tail) {
            sum += efm_bmm_unpack_tail(src, tail, zl, d);
        }
        rt[i] = -zr * sum;
    }
    dst[2 * n * ((depth + 3) >> 2)] = EFM_PANEL_SENTINEL;
}

static void efm_bmm_unpack(const int8_t *x, int32_t stride, int32_t depth, int32_t n, uint32_t mz, int32_t zr,
                           uint32_t *dst, int32_t *rt) {
    if (n == 6) {
        efm_bmm_unpack_n(x, stride, depth, 6, mz, zr, dst, rt);
    } else {
        efm_bmm_unpack_n(x, stride, depth, 4, mz, zr, dst, rt);
    }
}

/* One batch with the lhs contiguous along the depth and the rhs columns `rstride` bytes apart, each contiguous
 * along the depth and readable up to `dpad` (the depth rounded up to a multiple of 4 where the rhs was transposed
 * into padded rows; else the depth); xs: the unpacked rows' scratch. With the lhs zero point taken into the unpacked
 * values, the rhs zero point leaves one term per row: sum (l - zl)(r - zr) = sum (l - zl) r - zr sum (l - zl). */
static void efm_bmm_dot(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int32_t rstride,
                        int32_t dpad, int8_t *y, uint32_t *xs, int fast, int32_t k, int32_t s) {
    const int32_t depth = p->depth, groups = dpad >> 2, rows = p->rows, cols = p->cols;
    const int32_t zl = p->lhs_zp, zr = p->rhs_zp, lstride = p->lhs_row_stride;
    int32_t r = 0;
    if (fast && groups > 0 && (dpad & 3) == 0 && xs != 0) {
        int32_t n6 = 0, n4 = rows / 4;
        if (p->arm_block_rows == 6) {
            efm_panel_blocks(rows, &n6, &n4);
        }
        const uint32_t mz = (uint32_t)(-zl) & 0xFFFFu;
        efm_bmm_panel pp = {{0, 0, 0, 0, 0, 0}, y, p->y_row_stride, y, rstride - dpad, xs,
                            groups % EFM_PANEL_UNROLL, rhs, p->mult, k, s};
        for (int32_t b = 0; b < n6 + n4; b++) {
            const int32_t n = b < n6 ? 6 : 4;
            efm_bmm_unpack(lhs + r * lstride, lstride, depth, n, mz | (mz << 16), zr, xs, pp.rt);
            pp.y = y + r * p->y_row_stride;
            pp.y_end = pp.y + cols;
            if (n == 6) {
                efm_bmm_panel6(&pp);
            } else {
                efm_bmm_panel4(&pp);
            }
            r += n;
        }
    }
    for (; r < rows; r++) {
        const int8_t *lr = lhs + r * lstride;
        int32_t ls = 0;
        for (int32_t j = 0; j < depth; j++) {
            ls += lr[j] - zl;
        }
        int8_t *yr = y + r * p->y_row_stride;
        for (int32_t c = 0; c < cols; c++) {
            const int8_t *rc = rhs + c * rstride;
            int32_t acc = -zr * ls;
            int32_t j = 0;
            for (; j + 4 <= depth; j += 4) {
                const uint32_t a = efm_load4(lr + j), b = efm_load4(rc + j);
                acc = efm_smlad(efm_sxtb16(a), efm_sxtb16(b), acc);
                acc = efm_smlad(efm_sxtb16_ror8(a), efm_sxtb16_ror8(b), acc);
                acc -= zl * (rc[j] + rc[j + 1] + rc[j + 2] + rc[j + 3]);
            }
            for (; j < depth; j++) {
                acc += ((int32_t)lr[j] - zl) * rc[j];
            }
            yr[c] = fast ? efm_bmm_rq2(2 * acc, p->mult, k, s) : efm_bmm_out(p, acc);
        }
    }
}

/* rhs (k, c) at rhs[k * ds + c * cs] -> t[c * dpad + k], rows padded with zeros from depth to dpad: 4 x 4 byte
 * blocks in registers (four word loads, byte interleaves, four word stores) where the columns are contiguous, bytes
 * for the last depth % 4 values, the padding and the columns % 4 last columns. */
static void efm_bmm_transpose(const int8_t *rhs, int32_t depth, int32_t dpad, int32_t cols, int32_t ds, int32_t cs,
                              int8_t *t) {
    const int32_t d4 = cs == 1 ? depth & ~3 : 0, c4 = cs == 1 ? cols & ~3 : 0;
    const uint32_t m = 0x00FF00FFu;
    for (int32_t c0 = 0; c0 < c4; c0 += 4) {
        const int8_t *src = rhs + c0;
        int8_t *dst = t + c0 * dpad;
        for (int32_t j = 0; j < d4; j += 4, src += 4 * ds) {
            const uint32_t a = efm_load4(src), b = efm_load4(src + ds), c = efm_load4(src + 2 * ds),
                           d = efm_load4(src + 3 * ds);
            const uint32_t ab0 = (a & m) | ((b & m) << 8), ab1 = ((a >> 8) & m) | (b & ~m);
            const uint32_t cd0 = (c & m) | ((d & m) << 8), cd1 = ((c >> 8) & m) | (d & ~m);
            const uint32_t col0 = (ab0 & 0xFFFFu) | (cd0 << 16), col2 = (ab0 >> 16) | (cd0 & 0xFFFF0000u);
            const uint32_t col1 = (ab1 & 0xFFFFu) | (cd1 << 16), col3 = (ab1 >> 16) | (cd1 & 0xFFFF0000u);
            memcpy(dst + j, &col0, 4);
            memcpy(dst + dpad + j, &col1, 4);
            memcpy(dst + 2 * dpad + j, &col2, 4);
            memcpy(dst + 3 * dpad + j, &col3, 4);
        }
    }
    for (int32_t c = d4 < dpad ? 0 : c4; c < cols; c++) {
        const int32_t j0 = c < c4 ? d4 : 0;
        const int8_t *src = rhs + c * cs + j0 * ds;
        int8_t *dst = t + c * dpad;
        int32_t j = j0;
        for (; j < depth; j++, src += ds) {
            dst[j] = *src;
        }
        for (; j < dpad; j++) {
            dst[j] = 0;
        }
    }
}

/* ---- The pair path (p->arm_block_rows == 2: small products, at most EFM_BMM_PAIR_MAX_GROUPS groups of four depth
 * values, even numbers of rows and columns; efm_bmm_pair_all): both operands are packed once to int16 pairs with
 * their zero points taken out, so that every product is a pure SMLAD and the accumulators start at zero. The rhs of
 * a batch is packed into the scratch as column pairs, per group of four depth values the words (c0: k0 k2, c0: k1 k3,
 * c1: k0 k2, c1: k1 k3) of (r - zr); two lhs rows likewise as 2 (l - zl) (the factor 2 is efm_bmm_rq2's). A 2 x 2
 * block (two rows, two columns) costs per group two LDM and eight SMLAD (16 MACs in 10 instructions); the first
 * group starts the sums (SMUAD), the rest are entered at the copy that leaves groups - 1 of them; the
 * requantization, the four stores and the step to the next column pair follow (efm_bmm_pair_run). At depth 16 a
 * block costs 65 instructions (32 SMLAD/SMUAD, 8 LDM, the entry jump, 16 for the requantization, 4 for the stores,
 * 4 for the state and the loop): 16.25 per output; packing each operand value once (13 instructions per group of
 * two lhs rows, 9 per group of a rhs column pair; 17 with the transposing loads of P.V) adds ~2.5-3 per output at
 * 16 x 16 x 16: ~1.25 per MAC. */

#define EFM_BMM_PAIR_MAX_GROUPS 8

/* The state of one efm_bmm_pair_run call (the assembly copies it to the stack). */
typedef struct {
    uint32_t *l;            /*  0: the two packed rows */
    int32_t m;              /*  4: multiplier */
    int32_t k;              /*  8: offset of efm_bmm_rq2 */
    int32_t e;              /* 12: right shift */
    int8_t *y;              /* 16: the first row's output at the current column pair */
    int32_t y_stride;       /* 20: bytes from the first row's output to the second's (0: one row, stored twice) */
    const uint32_t *r_end;  /* 24: after the last packed column pair */
    int32_t rest;           /* 28: groups - 1 (0..7); the assembly's entry address there */
    const uint32_t *r;      /* 32: the first packed column pair */
    const int8_t *src;      /* 36: lhs: the first row of the next pair */
    int32_t src_stride;     /* 40: bytes between lhs rows */
    int32_t y_step;         /* 44: from the end of one row pair's outputs to the next pair's start */
    int32_t row_pairs;      /* 48: row pairs to run */
    int32_t pack_groups;    /* 52: groups (1..8) the assembly packs from src; its entry address of the packing
                             * there */
    uint32_t mz;            /* 56: -zl in both halfword lanes */
} efm_bmm_pair_state;

typedef char efm_bmm_pair_layout[(offsetof(efm_bmm_pair_state, y) == 16 && offsetof(efm_bmm_pair_state, rest) == 28 &&
                                  offsetof(efm_bmm_pair_state, r) == 32 && offsetof(efm_bmm_pair_state, y_step) == 44 &&
                                  offsetof(efm_bmm_pair_state, mz) == 56)
                                     ? 1
                                     : -1];

#define EFM_BMM_PG                                                                                              \
    "ldmia r0!, {r4-r7}\n\t"                                                                                    \
    "ldmia r1!, {r8-r11}\n\t"                                                                                   \
    "smlad r2, r4, r8, r2\n\t"                                                                                  \
    "smlad r2, r5, r9, r2\n\t"                                                                                  \
    "smlad r3, r4, r10, r3\n\t"                                                                                 \
    "smlad r3, r5, r11, r3\n\t"                                                                                 \
    "smlad r12, r6, r8, r12\n\t"                                                                                \
    "smlad r12, r7, r9, r12\n\t"                                                                                \
    "smlad lr, r6, r10, lr\n\t"                                                                                 \
    "smlad lr, r7, r11, lr\n\t"
/* One group of the two rows at r0, r1 packed as 2 (l - zl) to r2 (-zl in r4's lanes). */
#define EFM_BMM_PACK2                                                                                           \
    "ldr r9, [r0], #4\n\t"                                                                                      \
    "ldr r10, [r1], #4\n\t"                                                                                     \
    "sxtab16 r5, r4, r9\n\t"                                                                                    \
    "sxtab16 r6, r4, r9, ror #8\n\t"                                                                            \
    "sxtab16 r7, r4, r10\n\t"                                                                                   \
    "sxtab16 r8, r4, r10, ror #8\n\t"                                                                           \
    "sadd16 r5, r5, r5\n\t"                                                                                     \
    "sadd16 r6, r6, r6\n\t"                                                                                     \
    "sadd16 r7, r7, r7\n\t"                                                                                     \
    "sadd16 r8, r8, r8\n\t"                                                                                     \
    "stmia r2!, {r5-r8}\n\t"
/* efm_bmm_rq2 in place (M r4, k r5, e r6; r10 scratch). */
#define EFM_BMM_PRQ(a)                                                                                          \
    "add r10, r5, " a ", asr #31\n\t"                                                                           \
    "smmlar " a ", " a ", r4, r10\n\t"                                                                          \
    "asr " a ", " a ", r6\n\t"                                                                                  \
    "ssat " a ", #8, " a "\n\t"

/* st->row_pairs pairs of rows x every column pair up to st->r_end (at least one each). Per row pair the two rows at
 * st->src are first packed into st->l (per group two word loads, four SXTAB16 taking the zero point out, four SADD16
 * doubling, one STM; entered at the copy that leaves st->pack_groups of them). */
__attribute__((noinline)) static void efm_bmm_pair_run(efm_bmm_pair_state *st) {
    __asm__ volatile(
        "ldr r0, %[st]\n\t"
        "ldrd r1, r2, [r0, #52]\n\t"
        "adr r3, 7f\n\t"
        "ldr r1, [r3, r1, lsl #2]\n\t"
        "push {r1, r2}\n\t"
        "ldmia r0, {r1-r12, lr}\n\t"
        "push {r1-r12, lr}\n\t"
        "adr r3, 8f\n\t"
        "ldr r2, [r3, r8, lsl #2]\n\t"
        "str r2, [sp, #28]\n"
        "20:\n\t"
        "ldrd r0, r1, [sp, #36]\n\t"
        "add r2, r0, r1, lsl #1\n\t"
        "str r2, [sp, #36]\n\t"
        "add r1, r0, r1\n\t"
        "ldr r2, [sp]\n\t"
        "ldr r4, [sp, #56]\n\t"
        "ldr pc, [sp, #52]\n"
        "30:\n\t" EFM_BMM_PACK2 "31:\n\t" EFM_BMM_PACK2 "32:\n\t" EFM_BMM_PACK2 "33:\n\t" EFM_BMM_PACK2
        "34:\n\t" EFM_BMM_PACK2 "35:\n\t" EFM_BMM_PACK2 "36:\n\t" EFM_BMM_PACK2 "37:\n\t" EFM_BMM_PACK2
        "22:\n\t"
        "ldr r0, [sp]\n\t"
        "ldr r1, [sp, #32]\n"
        "1:\n\t"
        "ldmia r0!, {r4-r7}\n\t"
        "ldmia r1!, {r8-r11}\n\t"
        "smuad r2, r4, r8\n\t"
        "smlad r2, r5, r9, r2\n\t"
        "smuad r3, r4, r10\n\t"
        "smlad r3, r5, r11, r3\n\t"
        "smuad r12, r6, r8\n\t"
        "smlad r12, r7, r9, r12\n\t"
        "smuad lr, r6, r10\n\t"
        "smlad lr, r7, r11, lr\n\t"
        "ldr pc, [sp, #28]\n"
        "11:\n\t" EFM_BMM_PG "12:\n\t" EFM_BMM_PG "13:\n\t" EFM_BMM_PG "14:\n\t" EFM_BMM_PG
        "15:\n\t" EFM_BMM_PG "16:\n\t" EFM_BMM_PG "17:\n\t" EFM_BMM_PG
        "3:\n\t"
        "ldmia sp, {r0, r4-r9}\n\t" EFM_BMM_PRQ("r2") EFM_BMM_PRQ("r3") EFM_BMM_PRQ("r12") EFM_BMM_PRQ("lr")
        "bfi r12, lr, #8, #8\n\t"
        "strh r12, [r7, r8]\n\t"
        "bfi r2, r3, #8, #8\n\t"
        "strh r2, [r7], #2\n\t"
        "str r7, [sp, #16]\n\t"
        "cmp r1, r9\n\t"
        "bne 1b\n\t"
        "ldrd r2, r3, [sp, #44]\n\t"
        "add r7, r2\n\t"
        "str r7, [sp, #16]\n\t"
        "subs r3, #1\n\t"
        "str r3, [sp, #48]\n\t"
        "bne 20b\n\t"
        "add sp, #60\n\t"
        "b 9f\n\t"
        ".p2align 2\n"
        "8:\n\t"
        ".word 3b + 1, 17b + 1, 16b + 1, 15b + 1, 14b + 1, 13b + 1, 12b + 1, 11b + 1\n"
        "7:\n\t"
        ".word 22b + 1, 37b + 1, 36b + 1, 35b + 1, 34b + 1, 33b + 1, 32b + 1, 31b + 1, 30b + 1\n"
        "9:\n\t"
        :
        : [st] "m"(st)
        : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* Column pairs (columns cs bytes apart, each contiguous along 4 groups values) packed as (r - zr): per group two
 * word loads, four SXTAB16 and one STM; `pairs` >= 1, groups >= 1. */
__attribute__((noinline)) static void efm_bmm_pack_col_pairs(const int8_t *src, int32_t cs, int32_t groups,
                                                             int32_t pairs, uint32_t mz, uint32_t *d) {
    const int32_t step = 2 * cs - 4 * groups;
    __asm__ volatile("0:\n\t"
                     "mov r10, %[g]\n\t"
                     "add r11, %[a], %[cs]\n"
                     "1:\n\t"
                     "ldr r6, [%[a]], #4\n\t"
                     "ldr r8, [r11], #4\n\t"
                     "sxtab16 r7, %[mz], r6, ror #8\n\t"
                     "sxtab16 r6, %[mz], r6\n\t"
                     "sxtab16 r9, %[mz], r8, ror #8\n\t"
                     "sxtab16 r8, %[mz], r8\n\t"
                     "stmia %[d]!, {r6-r9}\n\t"
                     "subs r10, #1\n\t"
                     "bne 1b\n\t"
                     "add %[a], %[step]\n\t"
                     "subs %[n], #1\n\t"
                     "bne 0b\n\t"
                     : [a] "+r"(src), [d] "+r"(d), [n] "+r"(pairs)
                     : [mz] "r"(mz), [g] "r"(groups), [cs] "r"(cs), [step] "r"(step)
                     : "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
}

/* Column pairs of a rhs whose columns are contiguous (depth values ds bytes apart: P.V) packed as (r - zr): per group
 * and pair four halfword loads (the pair's values at depths k..k+3), two PKHBT ((k0, k2) and (k1, k3) bytes), four
 * SXTAB16 and one STM; `pairs` >= 1, groups >= 1, the depth a multiple of 4. */
/* One group of a column pair at r11 (depth values ds apart) packed to d (see efm_bmm_pack_row_pairs). */
#define EFM_BMM_PACKT                                                                                           \
    "ldrh r4, [r11]\n\t"                                                                                        \
    "ldrh r5, [r11, %[ds]]\n\t"                                                                                 \
    "ldrh r6, [r11, %[ds], lsl #1]\n\t"                                                                         \
    "ldrh r7, [r11, %[ds3]]\n\t"                                                                                \
    "add r11, r11, %[ds], lsl #2\n\t"                                                                           \
    "pkhbt r4, r4, r6, lsl #16\n\t"                                                                             \
    "pkhbt r5, r5, r7, lsl #16\n\t"                                                                             \
    "sxtab16 r6, %[mz], r4\n\t"                                                                                 \
    "sxtab16 r7, %[mz], r5\n\t"                                                                                 \
    "sxtab16 r8, %[mz], r4, ror #8\n\t"                                                                         \
    "sxtab16 r9, %[mz], r5, ror #8\n\t"                                                                         \
    "stmia %[d]!, {r6-r9}\n\t"

__attribute__((noinline)) static void efm_bmm_pack_row_pairs(const int8_t *src, int32_t ds, int32_t groups,
                                                             int32_t pairs, uint32_t mz, uint32_t *d) {
    const int32_t ds3 = 3 * ds;
    if (groups & 1) {
        __asm__ volatile("0:\n\t"
                         "ldr r10, %[g]\n\t"
                         "mov r11, %[a]\n"
                         "1:\n\t" EFM_BMM_PACKT
                         "subs r10, #1\n\t"
                         "bne 1b\n\t"
                         "adds %[a], #2\n\t"
                         "subs %[n], #1\n\t"
                         "bne 0b\n\t"
                         : [a] "+r"(src), [d] "+r"(d), [n] "+r"(pairs)
                         : [mz] "r"(mz), [g] "m"(groups), [ds] "r"(ds), [ds3] "r"(ds3)
                         : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
        return;
    }
    const int32_t g2 = groups >> 1;
    __asm__ volatile("0:\n\t"
                     "ldr r10, %[g]\n\t"
                     "mov r11, %[a]\n"
                     "1:\n\t" EFM_BMM_PACKT EFM_BMM_PACKT
                     "subs r10, #1\n\t"
                     "bne 1b\n\t"
                     "adds %[a], #2\n\t"
                     "subs %[n], #1\n\t"
                     "bne 0b\n\t"
                     : [a] "+r"(src), [d] "+r"(d), [n] "+r"(pairs)
                     : [mz] "r"(mz), [g] "m"(g2), [ds] "r"(ds), [ds3] "r"(ds3)
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
}

/* The whole op on the pair path (scratch: two packed rows, then the packed rhs of a batch, efm_bmm_pack_col_pairs
 * or efm_bmm_pack_row_pairs), one assembly call per batch; 0 (nothing done) where it does not apply: the lhs rows
 * contiguous along a depth that is a multiple of 4 (at most EFM_BMM_PAIR_MAX_GROUPS groups), the rhs contiguous
 * along the depth or along the columns, an even number of rows and columns, the 32-bit requantization. */
__attribute__((noinline)) static int efm_bmm_pair_all(const efm_batch_matmul_params *p, const int8_t *lhs,
                                                      const int8_t *rhs, int8_t *y, uint32_t *xs) {
    const int32_t rows = p->rows, cols = p->cols, depth = p->depth, groups = depth >> 2, pairs = cols >> 1;
    const int32_t ds = p->rhs_depth_stride, cs = p->rhs_col_stride;
    int32_t k, s;
    if (!efm_bmm_rq2_consts(p, &k, &s) || xs == 0 || p->lhs_depth_stride != 1 || (depth & 3) != 0 ||
        groups < 1 || groups > EFM_BMM_PAIR_MAX_GROUPS || ((rows | cols) & 1) != 0 || rows < 2 ||
        (ds != 1 && cs != 1)) {
        return 0;
    }
    const uint32_t mzl = ((uint32_t)(-p->lhs_zp) & 0xFFFFu) * 0x00010001u;
    const uint32_t mzr = ((uint32_t)(-p->rhs_zp) & 0xFFFFu) * 0x00010001u;
    uint32_t *rp = xs + 4 * groups;
    efm_bmm_pair_state st = {xs, p->mult, k, s, y, p->y_row_stride, rp + 4 * groups * pairs, groups - 1, rp, lhs,
                             p->lhs_row_stride, 2 * p->y_row_stride - 2 * pairs, rows >> 1, groups, mzl};
    const int32_t out_size = rows * p->y_row_stride;
    const int8_t *last = 0;
    for (int32_t b0 = 0; b0 < p->batch_count[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch_count[1]; b1++) {
            const int32_t lo1 = b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1];
            const int32_t ro1 = b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1];
            for (int32_t b2 = 0; b2 < p->batch_count[2]; b2++, y += out_size) {
                const int8_t *r = rhs + ro1 + b2 * p->rhs_batch_stride[2];
                if (r != last) { /* a broadcast rhs is packed once */
                    if (ds == 1) {
                        efm_bmm_pack_col_pairs(r, cs, groups, pairs, mzr, rp);
                    } else {
                        efm_bmm_pack_row_pairs(r, ds, groups, pairs, mzr, rp);
                    }
                    last = r;
                }
                st.src = lhs + lo1 + b2 * p->lhs_batch_stride[2];
                st.y = y;
                efm_bmm_pair_run(&st);
            }
        }
    }
    return 1;
}

void efm_batch_matmul(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y,
                      void *scratch) {
    /* The pair path (the emitter reserves its scratch where it applies). */
    if (p->arm_block_rows == 2 && efm_bmm_pair_all(p, lhs, rhs, y, (uint32_t *)scratch)) {
        return;
    }
    const int32_t depth = p->depth, cols = p->cols;
    const int direct = p->rhs_depth_stride == 1;
    const int dot = p->lhs_depth_stride == 1 && (direct || scratch != 0);
    int32_t k = 0, s = 0;
    const int fast = efm_bmm_rq2_consts(p, &k, &s);
    /* Scratch: the unpacked rows (when the panels apply), then (rhs not contiguous along the depth) the transposed
     * rhs, its rows padded to a multiple of 4 (the panels then take any depth). */
    const int32_t dpad = direct ? depth : (depth + 3) & ~3;
    const int panels = p->rows >= 4 && (direct ? depth >= 4 && (depth & 3) == 0 : 1);
    uint32_t *xs = panels && scratch != 0 ? (uint32_t *)scratch : 0;
    int8_t *t = (int8_t *)scratch + (panels ? EFM_PANEL_XS_BYTES(p->arm_block_rows == 6 ? 6 : 4, dpad >> 2) : 0);
    const int8_t *last = 0;
    const int32_t out_size = p->rows * p->y_row_stride;
    for (int32_t b0 = 0; b0 < p->batch_count[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch_count[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch_count[2]; b2++) {
                const int32_t lo = b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                                   b2 * p->lhs_batch_stride[2];
                const int32_t ro = b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                                   b2 * p->rhs_batch_stride[2];
                if (!dot || p->arm_block_rows == 2) {
                    efm_bmm_strided(p, lhs + lo, rhs + ro, y);
                } else if (direct) {
                    efm_bmm_dot(p, lhs + lo, rhs + ro, p->rhs_col_stride, depth, y, xs, fast, k, s);
                } else {
                    if (rhs + ro != last) {
                        efm_bmm_transpose(rhs + ro, depth, dpad, cols, p->rhs_depth_stride, p->rhs_col_stride, t);
                        last = rhs + ro;
                    }
                    efm_bmm_dot(p, lhs + lo, t, dpad, dpad, y, xs, fast, k, s);
                }
                y += out_size;
            }
        }
    }
}

#endif
