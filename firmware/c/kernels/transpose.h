/* TRANSPOSE: the output visits the input through the permuted strides (any element size, up to 8 axes). */
#ifndef EFM_TRANSPOSE_H
#define EFM_TRANSPOSE_H

#include "efm_kernel.h"

void efm_transpose(const efm_strided_view *v, const void *x, void *y);

#endif
