/* Portable reference BATCH_MATMUL (the Cortex-M DSP variant is kernels/arm/batch_matmul.c). */
#include "batch_matmul.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_BATCH_MATMUL

static void efm_bmm_one(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y) {
    for (int32_t r = 0; r < p->rows; r++) {
        const int8_t *lr = lhs + r * p->lhs_row_stride;
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *rc = rhs + c * p->rhs_col_stride;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; k++) {
                acc += ((int32_t)lr[k * p->lhs_depth_stride] - p->lhs_zp) *
                       ((int32_t)rc[k * p->rhs_depth_stride] - p->rhs_zp);
            }
            int64_t v = efm_mbqm_double(acc, p->mult, p->shift) + p->output_zp;
            y[c] = (int8_t)efm_clamp64(v, -128, 127);
        }
        y += p->y_row_stride;
    }
}

void efm_batch_matmul(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y,
                      void *scratch) {
    (void)scratch;
    const int32_t out_size = p->rows * p->y_row_stride;
    for (int32_t b0 = 0; b0 < p->batch_count[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch_count[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch_count[2]; b2++) {
                const int32_t lo = b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                                   b2 * p->lhs_batch_stride[2];
                const int32_t ro = b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                                   b2 * p->rhs_batch_stride[2];
                efm_bmm_one(p, lhs + lo, rhs + ro, y);
                y += out_size;
            }
        }
    }
}

#endif
