/* Portable reference AVERAGE_POOL_2D (int8 and int16). The Cortex-M DSP variant of the int8 kernel is
 * kernels/arm/average_pool_2d.c; Cortex-M builds call this int8 loop as efm_average_pool_2d_s8_portable where that
 * variant does not apply. */
#include "average_pool_2d.h"

#include "efm_kernel.h"

#define EFM_AVG_POOL_BODY(T)                                                                                    \
    for (int32_t n = 0; n < p->batches; n++) {                                                                  \
        const T *xn = x + n * p->in_h * p->in_w * p->channels;                                                  \
        for (int32_t oy = 0; oy < p->out_h; oy++) {                                                             \
            const int32_t iy0 = oy * p->stride_h - p->pad_top;                                                  \
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;                                                             \
            const int32_t ky1 = p->in_h - iy0 < p->filter_h ? p->in_h - iy0 : p->filter_h;                     \
            for (int32_t ox = 0; ox < p->out_w; ox++) {                                                         \
                const int32_t ix0 = ox * p->stride_w - p->pad_left;                                             \
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;                                                         \
                const int32_t kx1 = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;                 \
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);                                                \
                for (int32_t c = 0; c < p->channels; c++) {                                                     \
                    int32_t acc = 0;                                                                            \
                    for (int32_t ky = ky0; ky < ky1; ky++) {                                                    \
                        for (int32_t kx = kx0; kx < kx1; kx++) {                                                \
                            acc += xn[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];                     \
                        }                                                                                       \
                    }                                                                                           \
                    const int32_t half = count / 2;                                                             \
                    int32_t q = acc > 0 ? (acc + half) / count : -((-acc + half) / count);                      \
                    q = q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q);                        \
                    *y++ = (T)q;                                                                                \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

#ifdef EFM_ARM_AVERAGE_POOL_2D
void efm_average_pool_2d_s8_portable(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
#else
void efm_average_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
#endif
    EFM_AVG_POOL_BODY(int8_t)
}

void efm_average_pool_2d_s16(const efm_pool_2d_params *p, const int16_t *x, int16_t *y) {
    EFM_AVG_POOL_BODY(int16_t)
}
