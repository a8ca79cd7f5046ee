/* MAX_POOL_2D: maximum of the window's taps inside the input, clamped. */
#ifndef EFM_MAX_POOL_2D_H
#define EFM_MAX_POOL_2D_H

#include "pool_2d.h"

void efm_max_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y);
void efm_max_pool_2d_s16(const efm_pool_2d_params *p, const int16_t *x, int16_t *y);

#ifdef EFM_ARM_MAX_POOL_2D
void efm_max_pool_2d_s8_portable(const efm_pool_2d_params *p, const int8_t *x, int8_t *y);
#endif

#endif
