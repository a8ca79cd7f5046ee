/* MEAN for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/mean.c.
 *
 * int8 means over one (merged) axis are summed four bytes per word load with SXTAB16 into int16 lanes (two
 * accumulators: bytes 0 and 2, bytes 1 and 3), flushed to 32 bits with SMLAD against 0x00010001 before a lane can
 * overflow (256 words): over the last axis (contiguous rows, eight bytes per iteration) and over a strided axis
 * with the kept last axis contiguous (e.g. the token axis of [1, T, C]: four columns per word, one word per row).
 * The requantization of each mean is the portable kernel's 64-bit double rounding; other layouts and int16 take
 * the portable loop. */
#ifdef EFM_ARM_MEAN

#include "mean.h"

/* efm_arm.h also holds other kernels' helpers that this file does not call. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"

#define EFM_MEAN_ONES 0x00010001u

static int32_t efm_mean_out(const efm_mean_params *p, int64_t total) {
    const int64_t v = efm_mbqm_double(total - (int64_t)p->input_zp * p->n, p->mult, p->shift) + p->output_zp;
    return (int32_t)efm_clamp64(v, p->qmin, p->qmax);
}

/* Sum of n contiguous int8 values. */
static int32_t efm_mean_sum_row(const int8_t *x, int32_t n) {
    int32_t total = 0;
    while (n >= 8) {
        const int32_t words = n >= 2048 ? 256 : n >> 3 << 1; /* at most 256 words per int16 lane */
        uint32_t a = 0, b = 0;
        for (int32_t i = 0; i < words; i += 2, x += 8) {
            const uint32_t w0 = efm_load4(x), w1 = efm_load4(x + 4);
            a = efm_sxtab16(a, w0);
            b = efm_sxtab16_ror8(b, w0);
            a = efm_sxtab16(a, w1);
            b = efm_sxtab16_ror8(b, w1);
        }
        total = efm_smlad(a, EFM_MEAN_ONES, efm_smlad(b, EFM_MEAN_ONES, total));
        n -= words * 4;
    }
    for (; n > 0; n--) {
        total += *x++;
    }
    return total;
}

/* Sums over `rows` rows (row stride rs) of cols contiguous columns, written to out[cols] as means. */
static void efm_mean_columns(const efm_mean_params *p, const int8_t *x, int32_t rows, int32_t rs, int32_t cols,
                             int8_t *y) {
    int32_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        int32_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        const int8_t *px = x + c;
        for (int32_t r0 = 0; r0 < rows; r0 += 256) {
            const int32_t m = rows - r0 < 256 ? rows - r0 : 256;
            uint32_t a = 0, b = 0;
            for (int32_t r = 0; r < m; r++, px += rs) {
                const uint32_t w = efm_load4(px);
                a = efm_sxtab16(a, w);
                b = efm_sxtab16_ror8(b, w);
            }
            t0 += (int16_t)a;
            t2 += (int32_t)a >> 16;
            t1 += (int16_t)b;
            t3 += (int32_t)b >> 16;
        }
        y[c] = (int8_t)efm_mean_out(p, t0);
        y[c + 1] = (int8_t)efm_mean_out(p, t1);
        y[c + 2] = (int8_t)efm_mean_out(p, t2);
        y[c + 3] = (int8_t)efm_mean_out(p, t3);
    }
    for (; c < cols; c++) {
        int32_t t = 0;
        const int8_t *px = x + c;
        for (int32_t r = 0; r < rows; r++, px += rs) {
            t += *px;
        }
        y[c] = (int8_t)efm_mean_out(p, t);
    }
}

void efm_mean_s8(const efm_mean_params *p, const int8_t *x, int8_t *y) {
    if (p->red_ndim == 1 && p->red_stride[0] == 1) {
        /* Over the last axis: one contiguous row per output. */
        int32_t oidx[EFM_MEAN_MAX_DIMS] = {0};
        int32_t base = 0;
        int done = 0;
        while (!done) {
            *y++ = (int8_t)efm_mean_out(p, efm_mean_sum_row(x + base, p->red_count[0]));
            base += efm_mean_step(p->out_ndim, p->out_count, p->out_stride, oidx, &done);
        }
        return;
    }
    const int32_t on = p->out_ndim;
    if (p->red_ndim == 1 && on >= 1 && p->out_stride[on - 1] == 1 && p->out_count[on - 1] >= 4) {
        /* Over a strided axis, the kept last axis contiguous: blocks of four columns. */
        const int32_t cols = p->out_count[on - 1];
        int32_t oidx[EFM_MEAN_MAX_DIMS] = {0};
        int32_t base = 0;
        int done = 0;
        while (!done) {
            efm_mean_columns(p, x + base, p->red_count[0], p->red_stride[0], cols, y);
            y += cols;
            base += efm_mean_step(on - 1, p->out_count, p->out_stride, oidx, &done);
        }
        return;
    }
    efm_mean_s8_portable(p, x, y);
}

#endif
