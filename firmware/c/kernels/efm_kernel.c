/* Shared kernel code: N-d strided copies (TRANSPOSE, STRIDED_SLICE). */
#include <string.h>

#include "efm_kernel.h"

/* n >= 4 bytes `step` apart, four per iteration (e.g. the columns of a transposed matrix); out of line, so that
 * efm_copy_row stays small enough to be inlined for short rows. */
__attribute__((noinline)) static void efm_copy_bytes4(uint8_t *dst, const uint8_t *src, int32_t n, int32_t step) {
    const int32_t step2 = 2 * step, step3 = 3 * step;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, src += 4 * step) {
        const uint8_t b0 = src[0], b1 = src[step], b2 = src[step2], b3 = src[step3];
        dst[i] = b0;
        dst[i + 1] = b1;
        dst[i + 2] = b2;
        dst[i + 3] = b3;
    }
    for (; i < n; i++, src += step) {
        dst[i] = *src;
    }
}

static void efm_copy_row(uint8_t *dst, const uint8_t *src, int32_t n, int32_t stride, int32_t es) {
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * (size_t)es);
        return;
    }
    const int32_t step = stride * es;
    switch (es) {
    case 1:
        if (n >= 16) {
            efm_copy_bytes4(dst, src, n, step);
            break;
        }
        for (int32_t i = 0; i < n; i++, src += step) {
            dst[i] = *src;
        }
        break;
    case 2:
        for (int32_t i = 0; i < n; i++, src += step, dst += 2) {
            memcpy(dst, src, 2);
        }
        break;
    case 4:
        for (int32_t i = 0; i < n; i++, src += step, dst += 4) {
            memcpy(dst, src, 4);
        }
        break;
    default:
        for (int32_t i = 0; i < n; i++, src += step, dst += es) {
            memcpy(dst, src, (size_t)es);
        }
        break;
    }
}

void efm_strided_copy(const efm_strided_view *v, const void *src, int32_t offset, void *dst) {
    const int32_t nd = v->ndim;
    const int32_t es = v->elem_size;
    int32_t idx[EFM_MAX_DIMS] = {0};
    for (int32_t d = 0; d < nd; d++) {
        if (v->count[d] == 0) {
            return;
        }
    }
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *o = (uint8_t *)dst;
    const int32_t inner_n = nd > 0 ? v->count[nd - 1] : 1;
    const int32_t inner_s = nd > 0 ? v->stride[nd - 1] : 1;
    int32_t pos = offset;
    for (;;) {
        efm_copy_row(o, s + (ptrdiff_t)pos * es, inner_n, inner_s, es);
        o += (ptrdiff_t)inner_n * es;
        int32_t d = nd - 2;
        for (; d >= 0; d--) {
            idx[d]++;
            pos += v->stride[d];
            if (idx[d] < v->count[d]) {
                break;
            }
            pos -= v->stride[d] * v->count[d];
            idx[d] = 0;
        }
        if (d < 0) {
            break;
        }
    }
}
