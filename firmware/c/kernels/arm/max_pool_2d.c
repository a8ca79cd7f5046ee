/* MAX_POOL_2D (int8) for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/max_pool_2d.c.
 *
 * Four channels per 32-bit word: SSUB8 sets the GE flag of each byte lane where the tap is >= the running maximum
 * and SEL keeps the larger byte (per tap one load, SSUB8 and SEL); the activation clamp is the same pair against
 * the packed bounds. Channels past the last multiple of 4 use the portable arithmetic. */
#ifdef EFM_ARM_MAX_POOL_2D

#include "efm_kernel.h"
#include "max_pool_2d.h"

/* efm_arm.h's FULLY_CONNECTED helpers are not used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop

/* Bytewise maximum of m and `n` taps `stride` bytes apart from t: two taps per loop iteration. */
static inline uint32_t efm_mp_taps(const int8_t *t, int32_t n, int32_t stride, uint32_t m) {
    uint32_t v, u, d;
    __asm__("lsrs %[n], %[n], #1\n\t"
            "bcc 1f\n\t"
            "ldr %[v], [%[t]]\n\t"
            "add %[t], %[t], %[st]\n\t"
            "ssub8 %[d], %[v], %[m]\n\t"
            "sel %[m], %[v], %[m]\n\t"
            "1:\n\t"
            "cmp %[n], #0\n\t"
            "beq 3f\n\t"
            "2:\n\t"
            "ldr %[v], [%[t]]\n\t"
            "ldr %[u], [%[t], %[st]]\n\t"
            "add %[t], %[t], %[st], lsl #1\n\t"
            "subs %[n], %[n], #1\n\t"
            "ssub8 %[d], %[v], %[m]\n\t"
            "sel %[m], %[v], %[m]\n\t"
            "ssub8 %[d], %[u], %[m]\n\t"
            "sel %[m], %[u], %[m]\n\t"
            "bne 2b\n\t"
            "3:\n\t"
            : [m] "+r"(m), [t] "+r"(t), [n] "+r"(n), [v] "=&r"(v), [u] "=&r"(u), [d] "=&r"(d)
            : [st] "r"(stride)
            : "cc", "memory");
    return m;
}

static inline void efm_mp_store4(int8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

void efm_max_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
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
                /* A window whose rows are contiguous in the input (it spans the input's width) is one run. */
                const int32_t runs = cols == in_w ? 1 : rows, taps = cols == in_w ? rows * cols : cols;
                if (rows == 2 && cols == 2) { /* 2x2 windows inside the input: unrolled */
                    for (int32_t c = 0; c < full; c += 4) {
                        const int8_t *t = win + c;
                        uint32_t m = efm_max8(efm_load4(t), efm_load4(t + ch));
                        m = efm_max8(m, efm_max8(efm_load4(t + row), efm_load4(t + row + ch)));
                        efm_mp_store4(y + c, efm_min8(efm_max8(m, lo4), hi4));
                    }
                }
                for (int32_t c = rows == 2 && cols == 2 ? full : 0; c < full; c += 4) {
                    uint32_t m = 0x80808080u;
                    const int8_t *r = win + c;
                    for (int32_t k = 0; k < runs; k++, r += row) {
                        m = efm_mp_taps(r, taps, ch, m);
                    }
                    m = efm_max8(m, lo4);
                    m = efm_min8(m, hi4);
                    efm_mp_store4(y + c, m);
                }
                for (int32_t c = full; c < ch; c++) {
                    int32_t m = -128;
                    for (int32_t ky = 0; ky < rows; ky++) {
                        for (int32_t kx = 0; kx < cols; kx++) {
                            const int32_t v = win[ky * row + kx * ch + c];
                            m = v > m ? v : m;
                        }
                    }
                    m = m < p->act_min ? p->act_min : (m > p->act_max ? p->act_max : m);
                    y[c] = (int8_t)m;
                }
            }
        }
    }
}

#endif
