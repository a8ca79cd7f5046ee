/* Portable reference MUL (int8); the Cortex-M DSP variant is kernels/arm/mul.c, which
 * calls this loop as efm_mul_s8_portable where its 32-bit path does not apply. */
#include "mul.h"

#include "efm_kernel.h"

#ifdef EFM_ARM_MUL
void efm_mul_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
#else
void efm_mul_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
#endif
    EFM_BINARY_LOOP(p, x1, x2, y, {
        const int64_t prod = (int64_t)(av - p->a_zp) * (int64_t)(bv - p->b_zp);
        *yp = EFM_BINARY_FINISH(p, efm_mbqm_wrap(prod, p->out_mult, p->out_shift));
    });
}
