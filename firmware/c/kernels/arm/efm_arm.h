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

/* ---- matrix products (FULLY_CONNECTED, BATCH_MATMUL) ---- */

/* v saturated to int8. */
static inline int32_t efm_ssat8(int32_t v) {
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
}

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

#endif
