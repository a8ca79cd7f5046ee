/* Portable reference ADD (int8); the Cortex-M DSP variant is kernels/arm/add.c, which
 * calls this loop as efm_add_s8_portable where its 32-bit path does not apply. */
#include "add.h"

#include "efm_kernel.h"

#ifdef EFM_ARM_ADD
void efm_add_s8_portable(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
#else
void efm_add_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
#endif
    const int64_t scale = (int64_t)1 << p->left_shift;
    EFM_BINARY_LOOP(p, x1, x2, y, {
        const int64_t a = efm_mbqm_wrap((int64_t)(av - p->a_zp) * scale, p->a_mult, p->a_shift);
        const int64_t b = efm_mbqm_wrap((int64_t)(bv - p->b_zp) * scale, p->b_mult, p->b_shift);
        *yp = EFM_BINARY_FINISH(p, efm_mbqm_wrap(a + b, p->out_mult, p->out_shift));
    });
}
