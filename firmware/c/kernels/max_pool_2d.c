/* Portable reference MAX_POOL_2D (int8 and int16). The Cortex-M DSP variant of the int8 kernel is
 * kernels/arm/max_pool_2d.c (in Cortex-M builds this int8 loop is named efm_max_pool_2d_s8_portable). */
#include "max_pool_2d.h"

#include "efm_kernel.h"

#define EFM_MAX_POOL_BODY(T, LOWEST)                                                                            \
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
                for (int32_t c = 0; c < p->channels; c++) {                                                     \
                    int32_t m = LOWEST;                                                                         \
                    for (int32_t ky = ky0; ky < ky1; ky++) {                                                    \
                        for (int32_t kx = kx0; kx < kx1; kx++) {                                                \
                            const int32_t v = xn[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];          \
                            m = v > m ? v : m;                                                                  \
                        }                                                                                       \
                    }                                                                                           \
                    m = m < p->act_min ? p->act_min : (m > p->act_max ? p->act_max : m);                        \
                    *y++ = (T)m;                                                                                \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

#ifdef EFM_ARM_MAX_POOL_2D
void efm_max_pool_2d_s8_portable(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
#else
void efm_max_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y) {
#endif
    EFM_MAX_POOL_BODY(int8_t, -128)
}

void efm_max_pool_2d_s16(const efm_pool_2d_params *p, const int16_t *x, int16_t *y) {
    EFM_MAX_POOL_BODY(int16_t, -32768)
}
