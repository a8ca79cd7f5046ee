/* Portable reference RELU / RELU6 for int16 tensors. */
#include "relu.h"

#include "efm_kernel.h"

void efm_relu_s16(const efm_relu_params *p, const int16_t *x, int16_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        int64_t v = efm_mbqm_double((int64_t)x[i] - p->input_zp, p->mult, p->shift) + p->output_zp;
        v = v < p->hi ? v : p->hi;
        v = v > p->lo ? v : p->lo;
        y[i] = (int16_t)v;
    }
}
