/* MUL: int8, broadcasting: requant((x1 - zp1) * (x2 - zp2)) with one multiplier s1 * s2 / s_out (double
 * rounding, as LiteRT). */
#ifndef EFM_MUL_H
#define EFM_MUL_H

#include "binary.h"

void efm_mul_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y);

#endif
