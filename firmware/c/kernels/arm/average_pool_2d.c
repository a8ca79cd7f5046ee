/* AVERAGE_POOL_2D (int8) for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/average_pool_2d.c.
 *
 * Four channels per 32-bit word: SXTAB16 adds a tap's channels 0, 2 and (rotated) 1, 3 to two int16-pair sums in
 * one instruction each (per tap one load and two SXTAB16; exact while the window has at most 256 taps, as
 * |sum| <= 128 * 256 = 2^15), then each sum is divided by the number of taps inside the input, rounded half away
 * from zero (SDIV of sum +- count / 2), and the four results are clamped with SSUB8 + SEL against the packed
 * activation bounds (windows of more than 256 taps: the generated code calls efm_average_pool_2d_s8_portable
 * instead). Channels past the last multiple of 4 use the portable arithmetic. */
#ifdef EFM_ARM_AVERAGE_POOL_2D

#include "average_pool_2d.h"
#include "efm_kernel.h"

/* efm_arm.h's FULLY_CONNECTED helpers are not used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop

/* The portable rounding: sum / count, half away from zero (half = count / 2): SDIV truncates toward zero, so
 * (sum + half) / count for sum >= 0 and (sum - half) / count below. */
static inline int32_t efm_ap_div(int32_t sum, int32_t count, int32_t half) {
    const int32_t s = sum >> 31;
    return (sum + ((half ^ s) - s)) / count;
}

/* Sums of `n` taps `stride` bytes apart from t into the int16-pair sums *s02 (channels 0, 2) and *s13 (1, 3):
 * two taps per loop iteration (nine instructions). */
static inline void efm_ap_sum(const int8_t *t, int32_t n, int32_t stride, uint32_t *s02, uint32_t *s13) {
    uint32_t a = *s02, b = *s13, v, u;
    __asm__("lsrs %[n], %[n], #1\n\t"
            "bcc 1f\n\t"
            "ldr %[v], [%[t]]\n\t"
            "add %[t], %[t], %[st]\n\t"
            "sxtab16 %[a], %[a], %[v]\n\t"
            "sxtab16 %[b], %[b], %[v], ror #8\n\t"
            "1:\n\t"
            "cmp %[n], #0\n\t"
            "beq 3f\n\t"
            "2:\n\t"
            "ldr %[v], [%[t]]\n\t"
            "ldr %[u], [%[t], %[st]]\n\t"
            "add %[t], %[t], %[st], lsl #1\n\t"
            "subs %[n], %[n], #1\n\t"
            "sxtab16 %[a], %[a], %[v]\n\t"
            "sxtab16 %[b], %[b], %[v], ror #8\n\t"
            "sxtab16 %[a], %[a], %[u]\n\t"
            "sxtab16 %[b], %[b], %[u], ror #8\n\t"
            "bne 2b\n\t"
            "3:\n\t"
            : [a] "+r"(a), [b] "+r"(b), [t] "+r"(t), [n] "+r"(n), [v] "=&r"(v), [u] "=&r"(u)
            : [st] "r"(stride)
            : "cc", "memory");
    *s02 = a;
    *s13 = b;
}

void efm_average_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
    const int32_t ch = p->channels, full = ch & ~3, in_w = p->in_w, row = in_w * ch;
    const uint32_t lo4 = 0x01010101u * (uint8_t)p->act_min, hi4 = 0x01010101u * (uint8_t)p->act_max;
    for (int32_t n = 0; n < p->batches; n++) {
        const int8_t *xn = x + n * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = p->in_h - iy0 < p->filter_h ? p->in_h - iy0 : p->filter_h;
            for (int32_t ox = 0; ox < p->out_w; ox++, y += ch) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = in_w - ix0 < p->filter_w ? in_w - ix0 : p->filter_w;
                const int8_t *win = xn + (iy0 + ky0) * row + (ix0 + kx0) * ch;
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
                const int32_t count = rows * cols, half = count / 2;
                /* A window whose rows are contiguous in the input (it spans the input's width) is one run. */
                const int32_t runs = cols == in_w ? 1 : rows, taps = cols == in_w ? count : cols;
                for (int32_t c = 0; c < full; c += 4) {
                    uint32_t s02 = 0, s13 = 0;
                    const int8_t *r = win + c;
                    if (rows == 2 && cols == 2) { /* 2x2 windows inside the input: unrolled */
                        const uint32_t v0 = efm_load4(r), v1 = efm_load4(r + ch), v2 = efm_load4(r + row);
                        const uint32_t v3 = efm_load4(r + row + ch);
                        s02 = efm_sxtab16(efm_sxtab16(efm_sxtab16(efm_sxtab16(0, v0), v1), v2), v3);
                        s13 = efm_sxtab16_ror8(
                            efm_sxtab16_ror8(efm_sxtab16_ror8(efm_sxtab16_ror8(0, v0), v1), v2), v3);
                    } else {
                        for (int32_t k = 0; k < runs; k++, r += row) {
                            efm_ap_sum(r, taps, ch, &s02, &s13);
                        }
                    }
                    const uint32_t q0 = (uint32_t)efm_ap_div((int16_t)s02, count, half);
                    const uint32_t q1 = (uint32_t)efm_ap_div((int16_t)s13, count, half);
                    const uint32_t q2 = (uint32_t)efm_ap_div((int32_t)s02 >> 16, count, half);
                    const uint32_t q3 = (uint32_t)efm_ap_div((int32_t)s13 >> 16, count, half);
                    uint32_t m = (q0 & 0xFFu) | ((q1 & 0xFFu) << 8) | ((q2 & 0xFFu) << 16) | (q3 << 24);
                    m = efm_min8(efm_max8(m, lo4), hi4);
                    memcpy(y + c, &m, 4);
                }
                for (int32_t c = full; c < ch; c++) {
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < rows; ky++) {
                        for (int32_t kx = 0; kx < cols; kx++) {
                            acc += win[ky * row + kx * ch + c];
                        }
                    }
                    int32_t q = efm_ap_div(acc, count, half);
                    q = q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q);
                    y[c] = (int8_t)q;
                }
            }
        }
    }
}

#endif
