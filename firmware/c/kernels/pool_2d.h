/* Window geometry shared by AVERAGE_POOL_2D and MAX_POOL_2D (NHWC; taps outside the input are skipped). */
#ifndef EFM_POOL_2D_H
#define EFM_POOL_2D_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} efm_pool_2d_params;

#endif
