/* SQUARED_DIFFERENCE: int8, broadcasting; both inputs rescaled to twice the larger input scale with left_shift bits of
 * headroom, combined as (a - b) * (a - b) and requantized (gemmlowp double rounding, as LiteRT). */
#ifndef EFM_SQUARED_DIFFERENCE_H
#define EFM_SQUARED_DIFFERENCE_H

#include "binary.h"

void efm_squared_difference_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#ifdef EFM_ARM_SQUARED_DIFFERENCE
/* The portable loop (kernels/squared_difference.c), which the Cortex-M kernel calls where its 32-bit path does not apply. */
void efm_squared_difference_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#endif

#endif
