/* Table lookups for Cortex-M4/M7: bit-exact with kernels/lut.c (LUT, LOGISTIC, TANH, RSQRT, GELU tables...).
 *
 * The 8-bit to 8-bit lookups run four elements per iteration with the table pointer moved to its middle entry
 * for int8 inputs (so that the sign-extended byte is the register offset): four LDRSB, four LDRB from the table,
 * four STRB (all post-indexed) and the loop counter, 3.5 instructions per element. Each group of four is read
 * before it is written: safe in place. */
#ifdef EFM_ARM_LUT

#include "lut.h"

void efm_lut_s8_to8(int32_t n, const uint8_t *table, const int8_t *x, uint8_t *y) {
    const uint8_t *t = table + 128;
    int32_t k = n >> 2;
    if (k > 0) {
        int32_t a, b, c, d;
        __asm__ volatile("1:\n\t"
                         "ldrsb %[a], [%[x]], #1\n\t"
                         "ldrsb %[b], [%[x]], #1\n\t"
                         "ldrsb %[c], [%[x]], #1\n\t"
                         "ldrsb %[d], [%[x]], #1\n\t"
                         "ldrb %[a], [%[t], %[a]]\n\t"
                         "ldrb %[b], [%[t], %[b]]\n\t"
                         "ldrb %[c], [%[t], %[c]]\n\t"
                         "ldrb %[d], [%[t], %[d]]\n\t"
                         "strb %[a], [%[y]], #1\n\t"
                         "strb %[b], [%[y]], #1\n\t"
                         "strb %[c], [%[y]], #1\n\t"
                         "strb %[d], [%[y]], #1\n\t"
                         "subs %[k], %[k], #1\n\t"
                         "bne 1b"
                         : [x] "+r"(x), [y] "+r"(y), [k] "+r"(k), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c),
                           [d] "=&r"(d)
                         : [t] "r"(t)
                         : "cc", "memory");
    }
    n &= 3;
    for (; n > 0; n--) {
        *y++ = t[*x++];
    }
}

void efm_lut_u8_to8(int32_t n, const uint8_t *table, const uint8_t *x, uint8_t *y) {
    for (; n >= 4; n -= 4, x += 4, y += 4) {
        const uint32_t a = x[0], b = x[1], c = x[2], d = x[3];
        y[0] = table[a];
        y[1] = table[b];
        y[2] = table[c];
        y[3] = table[d];
    }
    for (; n > 0; n--) {
        *y++ = table[*x++];
    }
}

/* Backwards: the output elements are wider than the input ones, so in place the tail is written first. */
void efm_lut_s8_to32(int32_t n, const uint32_t *table, const int8_t *x, uint32_t *y) {
    for (int32_t i = n - 1; i >= 0; i--) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}

void efm_lut_u8_to32(int32_t n, const uint32_t *table, const uint8_t *x, uint32_t *y) {
    for (int32_t i = n - 1; i >= 0; i--) {
        y[i] = table[x[i]];
    }
}

#endif
