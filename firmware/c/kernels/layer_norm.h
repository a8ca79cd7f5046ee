/* LAYER_NORM: integer LayerNorm over the last axis (docs/ops/LAYER_NORM.md): integer row statistics, exact
 * integer square root, 30-bit reciprocal, per-channel gamma (single-rounding requantization) and beta in output
 * LSBs. Safe in place. */
#ifndef EFM_LAYER_NORM_H
#define EFM_LAYER_NORM_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t channels;
    int64_t eps;     /* E = round(epsilon * C^2 / s_x^2) */
    int32_t output_zp;
    const int32_t *mult;  /* per channel */
    const int32_t *shift; /* per channel */
    /* Cortex-M kernel (kernels/arm/layer_norm.c): per channel {M, 2^(r-1), r, output_zp + beta} with
     * r = -shift - 1 >= 1, or NULL (then mult and shift are used) */
    const int32_t *requant;
} efm_layer_norm_params;

/* beta may be NULL. */
void efm_layer_norm(const efm_layer_norm_params *p, const int8_t *x, const int8_t *gamma, const int32_t *beta,
                    int8_t *y);

#endif
