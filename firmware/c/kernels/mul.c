/* Portable reference MUL (int8). */
#include "mul.h"

#include "efm_kernel.h"

void efm_mul_s8(const efm_binary_params *p, const int8_t *x1, const int8_t *x2, int8_t *y) {
    EFM_BINARY_LOOP(p, x1, x2, y, {
        const int64_t prod = (int64_t)(av - p->a_zp) * (int64_t)(bv - p->b_zp);
        *yp = EFM_BINARY_FINISH(p, efm_mbqm_wrap(prod, p->out_mult, p->out_shift));
    });
}
