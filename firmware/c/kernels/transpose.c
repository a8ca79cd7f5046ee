/* Portable TRANSPOSE. */
#include "transpose.h"

void efm_transpose(const efm_strided_view *v, const void *x, void *y) {
    efm_strided_copy(v, x, 0, y);
}
