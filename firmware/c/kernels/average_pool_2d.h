/* AVERAGE_POOL_2D: mean of the window's taps inside the input, rounded half away from zero, clamped. */
#ifndef EFM_AVERAGE_POOL_2D_H
#define EFM_AVERAGE_POOL_2D_H

#include "pool_2d.h"

void efm_average_pool_2d_s8(const efm_pool_2d_params *p, const int8_t *x, int8_t *y);
void efm_average_pool_2d_s16(const efm_pool_2d_params *p, const int16_t *x, int16_t *y);

#ifdef EFM_ARM_AVERAGE_POOL_2D
void efm_average_pool_2d_s8_portable(const efm_pool_2d_params *p, const int8_t *x, int8_t *y);
#endif

#endif
