/* Portable STRIDED_SLICE. */
#include "strided_slice.h"

void efm_strided_slice(const efm_strided_view *v, int32_t start, const void *x, void *y) {
    efm_strided_copy(v, x, start, y);
}
