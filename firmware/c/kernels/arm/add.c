/* ADD for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/add.c.
 *
 * The rescales and the requantization run in 32-bit SMMLAR form (efm_arm.h, efm_ew_addlike): the input of the
 * larger scale is a shift, the other one a 256-entry table built on the stack once per call; four elements per
 * iteration, with paths for equal shapes, a row broadcast and a single value (a repeated input's term is computed
 * once per row), the results saturated, packed and clamped four bytes at a time. ADD, SUB and SQUARED_DIFFERENCE
 * share that code (one weak definition). Parameters outside the 32-bit bounds (checked once per call) take the
 * generic 64-bit loop of the portable kernel. */
#ifdef EFM_ARM_ADD

#include "add.h"

/* efm_arm.h also holds other kernels' helpers that this file does not call; it defines the shared efm_ew_addlike
 * here. */
#define EFM_EW_ADDLIKE
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"

void efm_add_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
    if (efm_ew_addlike(p, x1, x2, y, EFM_EW_ADD)) {
        return;
    }
    efm_add_s8_portable(p, x1, x2, y);
}

#endif
