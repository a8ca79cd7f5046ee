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
__attribute__((noinline)) static void efm_dot4x1(const uint32_t *xs, const int8_t *w, int32_t groups,
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

/* x saturated to the int8 range [-128, 127]. */
static inline int32_t efm_ssat8(int32_t x) {
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
    return r;
}

/* acc + (a * b + 2^31) / 2^32 rounded down: SMMULR with an addend (exactly acc + efm_smmulr(a, b)). */
static inline int32_t efm_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

#endif
