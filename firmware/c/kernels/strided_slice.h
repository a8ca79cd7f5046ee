/* STRIDED_SLICE: the slice TFLite's masks and clamping select (resolved at generation time to a start element
 * and per-axis counts and strides, negative strides included). */
#ifndef EFM_STRIDED_SLICE_H
#define EFM_STRIDED_SLICE_H

#include "efm_kernel.h"

void efm_strided_slice(const efm_strided_view *v, int32_t start, const void *x, void *y);

#endif
