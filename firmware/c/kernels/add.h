/* ADD: int8, broadcasting; both inputs rescaled to twice the larger input scale with left_shift bits of
 * headroom, combined as a + b and requantized (gemmlowp double rounding, as LiteRT). */
#ifndef EFM_ADD_H
#define EFM_ADD_H

#include "binary.h"

void efm_add_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#ifdef EFM_ARM_ADD
/* The portable loop (kernels/add.c), which the Cortex-M kernel calls where its 32-bit path does not apply. */
void efm_add_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#endif

#endif
