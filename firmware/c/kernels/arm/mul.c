/* MUL for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/mul.c.
 *
 * Four elements per iteration: one word of each input unpacked to zero-point-corrected int16 lanes (SXTB16,
 * SSUB16), the products by SMULBB / SMULTT and the requantization in 32-bit SMMLAR form (efm_arm.h,
 * efm_mul_row_t), with paths for equal shapes, a row broadcast and a single value; results saturated, packed and
 * clamped four bytes at a time. Parameters outside the 32-bit bounds take the generic 64-bit loop. */
#ifdef EFM_ARM_MUL

#include "mul.h"

/* efm_arm.h also holds other kernels' helpers that this file does not call. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"

#define EFM_MUL_ROW_R(Q, A, B, Y, N, SA, SB) efm_mul_row_t((Q), (A), (B), (Y), (N), (SA), (SB), 1)
#define EFM_MUL_ROW_S(Q, A, B, Y, N, SA, SB) efm_mul_row_t((Q), (A), (B), (Y), (N), (SA), (SB), 0)

void efm_mul_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
    efm_mul_q q;
    if (efm_mul_setup(p, &q)) {
        int ok;
        if (q.round) {
            EFM_EW_ROWS(ok, p->ndim, p->count, p->stride_a, p->stride_b, x1, x2, y, EFM_MUL_ROW_R, &q);
        } else {
            EFM_EW_ROWS(ok, p->ndim, p->count, p->stride_a, p->stride_b, x1, x2, y, EFM_MUL_ROW_S, &q);
        }
        if (ok) {
            return;
        }
    }
    efm_mul_s8_portable(p, x1, x2, y);
}

#endif
