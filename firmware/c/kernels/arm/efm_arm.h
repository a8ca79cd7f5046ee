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

#endif
