/* BATCH_MATMUL: per batch, y = requant((lhs - zp_l) . (rhs - zp_r)), double rounding (LiteRT), broadcast batches.
 *
 * Operands are addressed through strides, so adj_x / adj_y and broadcasting cost no copies:
 * lhs(r, k) = lhs[lhs_batch + r * lhs_row_stride + k * lhs_depth_stride], rhs(k, c) likewise; y rows are
 * y_row_stride apart (cols for a contiguous output; more when a fused attention writes one head's columns).
 */
#ifndef EFM_BATCH_MATMUL_H
#define EFM_BATCH_MATMUL_H

#include <stdint.h>

#define EFM_BMM_MAX_BATCH_DIMS 3

typedef struct {
    int32_t batch_count[EFM_BMM_MAX_BATCH_DIMS]; /* output batch shape, padded in front with 1 */
    int32_t lhs_batch_stride[EFM_BMM_MAX_BATCH_DIMS];
    int32_t rhs_batch_stride[EFM_BMM_MAX_BATCH_DIMS];
    int32_t rows;
    int32_t depth;
    int32_t cols;
    int32_t lhs_row_stride;
    int32_t lhs_depth_stride;
    int32_t rhs_depth_stride;
    int32_t rhs_col_stride;
    int32_t y_row_stride;
    int32_t lhs_zp;
    int32_t rhs_zp;
    int32_t output_zp;
    int32_t mult;
    int32_t shift;
    int32_t arm_block_rows; /* Cortex-M kernel: lhs rows per register-blocked panel, 6 or 4 (the portable ignores it) */
} efm_batch_matmul_params;

/* scratch: the Cortex-M kernel's unpacked rows and column sums (NULL: no scratch; the portable kernel ignores it). */
void efm_batch_matmul(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y,
                      void *scratch);

#endif
