/* MUL: int8, broadcasting: requant((x1 - zp1) * (x2 - zp2)) with one multiplier s1 * s2 / s_out (double
 * rounding, as LiteRT). */
#ifndef EFM_MUL_H
#define EFM_MUL_H

#include "binary.h"

void efm_mul_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#ifdef EFM_ARM_MUL
/* The portable loop (kernels/mul.c), which the Cortex-M kernel calls where its 32-bit path does not apply. */
void efm_mul_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);
#endif

#endif
