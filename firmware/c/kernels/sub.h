/* SUB: int8, broadcasting; both inputs rescaled to twice the larger input scale with left_shift bits of
 * headroom, combined as a - b and requantized (gemmlowp double rounding, as LiteRT). */
#ifndef EFM_SUB_H
#define EFM_SUB_H

#include "binary.h"

void efm_sub_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#ifdef EFM_ARM_SUB
/* The portable loop (kernels/sub.c), which the Cortex-M kernel calls where its 32-bit path does not apply. */
void efm_sub_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#endif

#endif
