/* BATCH_MATMUL for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/batch_matmul.c.
 *
 * When both operands run contiguously along the depth (lhs rows, rhs "columns": adj_y, the attention scores
 * Q.K^T), the products are int8 dot products on SMLAD (four lhs rows unpacked once into the scratch, as the
 * FULLY_CONNECTED kernel does) and the zero points enter through row and column sums:
 *   sum (l - zl)(r - zr) = sum l r - zr sum l - zl sum r + K zl zr.
 * Other layouts use the portable loop. */
#ifdef EFM_ARM_BATCH_MATMUL

#include "batch_matmul.h"
#include "efm_arm.h"
#include "efm_kernel.h"

static int8_t efm_bmm_out(const efm_batch_matmul_params *p, int32_t acc) {
    const int64_t v = efm_mbqm_double(acc, p->mult, p->shift) + p->output_zp;
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static void efm_bmm_strided(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y) {
    for (int32_t r = 0; r < p->rows; r++, y += p->y_row_stride) {
        const int8_t *lr = lhs + r * p->lhs_row_stride;
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *rc = rhs + c * p->rhs_col_stride;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; k++) {
                acc += ((int32_t)lr[k * p->lhs_depth_stride] - p->lhs_zp) *
                       ((int32_t)rc[k * p->rhs_depth_stride] - p->rhs_zp);
            }
            y[c] = efm_bmm_out(p, acc);
        }
    }
}

/* Both operands contiguous along the depth: SMLAD dot products with zero-point corrections. */
static void efm_bmm_dot(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y,
                        uint32_t *xs, int32_t *colsum) {
    const int32_t depth = p->depth, groups = depth >> 2, tail = depth & 3;
    const int32_t zl = p->lhs_zp, zr = p->rhs_zp, kzz = depth * zl * zr;
    for (int32_t c = 0; c < p->cols; c++) {
        const int8_t *rc = rhs + c * p->rhs_col_stride;
        int32_t s = 0;
        for (int32_t k = 0; k < depth; k++) {
            s += rc[k];
        }
        colsum[c] = s;
    }
    int32_t r = 0;
    for (; r + 4 <= p->rows && groups > 0; r += 4) {
        const int8_t *lr = lhs + r * p->lhs_row_stride;
        int32_t rowsum[4];
        for (int32_t i = 0; i < 4; i++) {
            int32_t s = 0;
            for (int32_t k = 0; k < depth; k++) {
                s += lr[i * p->lhs_row_stride + k];
            }
            rowsum[i] = kzz - zr * s;
        }
        efm_unpack4(lr, p->lhs_row_stride, groups, xs);
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *rc = rhs + c * p->rhs_col_stride;
            int32_t acc[4];
            efm_dot4x1(xs, rc, groups, acc);
            const int32_t corr = -zl * colsum[c];
            for (int32_t i = 0; i < 4; i++) {
                for (int32_t k = depth - tail; k < depth; k++) {
                    acc[i] += (int32_t)lr[i * p->lhs_row_stride + k] * rc[k];
                }
                y[(r + i) * p->y_row_stride + c] = efm_bmm_out(p, acc[i] + rowsum[i] + corr);
            }
        }
    }
    for (; r < p->rows; r++) {
        const int8_t *lr = lhs + r * p->lhs_row_stride;
        int32_t s = 0;
        for (int32_t k = 0; k < depth; k++) {
            s += lr[k];
        }
        const int32_t rowterm = kzz - zr * s;
        for (int32_t c = 0; c < p->cols; c++) {
            const int8_t *rc = rhs + c * p->rhs_col_stride;
            int32_t acc = 0;
            int32_t k = 0;
            for (; k + 4 <= depth; k += 4) {
                const uint32_t a = efm_load4(lr + k), b = efm_load4(rc + k);
                acc = efm_smlad(efm_sxtb16(a), efm_sxtb16(b), acc);
                acc = efm_smlad(efm_sxtb16_ror8(a), efm_sxtb16_ror8(b), acc);
            }
            for (; k < depth; k++) {
                acc += (int32_t)lr[k] * rc[k];
            }
            y[r * p->y_row_stride + c] = efm_bmm_out(p, acc + rowterm - zl * colsum[c]);
        }
    }
}

void efm_batch_matmul(const efm_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *y,
                      void *scratch) {
    const int dot = scratch != 0 && p->lhs_depth_stride == 1 && p->rhs_depth_stride == 1;
    uint32_t *xs = (uint32_t *)scratch;
    int32_t *colsum = (int32_t *)scratch + 8 * (p->depth >> 2);
    const int32_t out_size = p->rows * p->y_row_stride;
    for (int32_t b0 = 0; b0 < p->batch_count[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch_count[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch_count[2]; b2++) {
                const int32_t lo = b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                                   b2 * p->lhs_batch_stride[2];
                const int32_t ro = b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                                   b2 * p->rhs_batch_stride[2];
                if (dot) {
                    efm_bmm_dot(p, lhs + lo, rhs + ro, y, xs, colsum);
                } else {
                    efm_bmm_strided(p, lhs + lo, rhs + ro, y);
                }
                y += out_size;
            }
        }
    }
}

#endif
