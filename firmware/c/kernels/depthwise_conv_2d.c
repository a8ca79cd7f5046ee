/* Portable reference DEPTHWISE_CONV_2D (the Cortex-M DSP variant is kernels/arm/depthwise_conv_2d.c; Cortex-M
 * builds call this loop as efm_depthwise_conv_2d_portable where that variant does not apply). */
#include "depthwise_conv_2d.h"

#include "efm_kernel.h"

#ifdef EFM_ARM_DEPTHWISE_CONV_2D
void efm_depthwise_conv_2d_portable(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                                    const int32_t *bias, int8_t *y) {
#else
void efm_depthwise_conv_2d(const efm_depthwise_conv_2d_params *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y, void *scratch) {
    (void)scratch;
#endif
    for (int32_t n = 0; n < p->batches; n++) {
        const int8_t *xn = x + n * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; oc++) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int32_t xv = (int32_t)xn[(iy * p->in_w + ix) * p->in_c + ic] - p->input_zp;
                            acc += xv * (int32_t)w[(ky * p->k_w + kx) * p->out_c + oc];
                        }
                    }
                    int64_t v = efm_mbqm_double((int64_t)acc + (bias ? bias[oc] : 0), p->mult[oc], p->shift[oc]) +
                                p->output_zp;
                    *y++ = (int8_t)efm_clamp64(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
