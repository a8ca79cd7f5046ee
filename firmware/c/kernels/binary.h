/* Shared part of the int8 binary elementwise kernels (ADD, SUB, MUL, SQUARED_DIFFERENCE): numpy broadcasting
 * through per-input strides (0 on broadcast axes) over the output shape, and the requantization parameters. */
#ifndef EFM_BINARY_H
#define EFM_BINARY_H

#include <stdint.h>

#define EFM_BINARY_MAX_DIMS 6

typedef struct {
    int32_t ndim;
    int32_t count[EFM_BINARY_MAX_DIMS]; /* output shape (adjacent axes merged where possible) */
    int32_t stride_a[EFM_BINARY_MAX_DIMS];
    int32_t stride_b[EFM_BINARY_MAX_DIMS];
    int32_t a_zp, b_zp, output_zp;
    int32_t left_shift;
    int32_t a_mult, a_shift, b_mult, b_shift;
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
    /* Cortex-M ADD, SUB, SQUARED_DIFFERENCE (efm_arm.h, efm_ew_addlike): the 256-entry rescale table T[x + 128] of
     * the general input, precomputed at generation time for ops too small to build it per call; else NULL. */
    const int32_t *ew_table;
} efm_binary_params;

/* Runs STMT once per output element with `av`, `bv` (the int32 input values) set, the output written through
 * `*yp` (int8_t *), elements visited in output order. */
#define EFM_BINARY_LOOP(P, A, B, Y, STMT)                                                                       \
    do {                                                                                                        \
        int32_t idx_[EFM_BINARY_MAX_DIMS] = {0};                                                                \
        const int32_t nd_ = (P)->ndim;                                                                          \
        const int32_t n_ = nd_ > 0 ? (P)->count[nd_ - 1] : 1;                                                   \
        const int32_t sa_ = nd_ > 0 ? (P)->stride_a[nd_ - 1] : 0;                                               \
        const int32_t sb_ = nd_ > 0 ? (P)->stride_b[nd_ - 1] : 0;                                               \
        int32_t ia_ = 0, ib_ = 0, empty_ = 0;                                                                   \
        int8_t *yp = (Y);                                                                                       \
        for (int32_t d_ = 0; d_ < nd_; d_++) {                                                                  \
            empty_ |= (P)->count[d_] == 0;                                                                      \
        }                                                                                                       \
        while (!empty_) {                                                                                       \
            const int8_t *pa_ = (A) + ia_;                                                                      \
            const int8_t *pb_ = (B) + ib_;                                                                      \
            for (int32_t i_ = 0; i_ < n_; i_++, pa_ += sa_, pb_ += sb_, yp++) {                                 \
                const int32_t av = *pa_;                                                                        \
                const int32_t bv = *pb_;                                                                        \
                STMT;                                                                                           \
            }                                                                                                   \
            int32_t d_ = nd_ - 2;                                                                               \
            for (; d_ >= 0; d_--) {                                                                             \
                idx_[d_]++;                                                                                     \
                ia_ += (P)->stride_a[d_];                                                                       \
                ib_ += (P)->stride_b[d_];                                                                       \
                if (idx_[d_] < (P)->count[d_]) {                                                                \
                    break;                                                                                      \
                }                                                                                               \
                ia_ -= (P)->stride_a[d_] * (P)->count[d_];                                                      \
                ib_ -= (P)->stride_b[d_] * (P)->count[d_];                                                      \
                idx_[d_] = 0;                                                                                   \
            }                                                                                                   \
            if (d_ < 0) {                                                                                       \
                break;                                                                                          \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)

/* The common tail: wrap to int32, add the output zero point (wrapping), clamp to the activation range. */
#define EFM_BINARY_FINISH(P, ACC)                                                                               \
    ((int8_t)efm_clamp64(efm_wrap32((int64_t)efm_wrap32(ACC) + (P)->output_zp), (P)->act_min, (P)->act_max))

#endif
