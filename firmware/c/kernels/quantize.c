/* Portable reference QUANTIZE. */
#include "quantize.h"

#include "efm_kernel.h"

static void efm_store(void *y, int32_t i, int32_t size, int64_t v) {
    if (size == 1) {
        ((int8_t *)y)[i] = (int8_t)v;
    } else if (size == 2) {
        ((int16_t *)y)[i] = (int16_t)v;
    } else {
        ((int32_t *)y)[i] = (int32_t)v;
    }
}

/* round half away from zero of a float32, saturated to int32, NaN -> 0 (edgefmr's affine_quantize). */
static int64_t efm_round_f32(float q) {
    if (q != q) {
        return 0;
    }
    const float a = q < 0.0f ? -q : q;
    if (a >= 2147483648.0f) {
        return q < 0.0f ? (int64_t)EFM_INT32_MIN : (int64_t)EFM_INT32_MAX;
    }
    int64_t r = (int64_t)a; /* a < 2^31: exact truncation */
    /* a - r is exact (r is a's integer part), so the comparison decides the rounding exactly. */
    if (a - (float)r >= 0.5f) {
        r++;
    }
    r = r > EFM_INT32_MAX ? EFM_INT32_MAX : r;
    return q < 0.0f ? -r : r;
}

void efm_quantize_f32(const efm_quantize_params *p, const float *x, void *y) {
    for (int32_t i = 0; i < p->n; i++) {
        const float q = x[i] / p->scale;
        const int64_t v = efm_clamp64(efm_round_f32(q) + p->output_zp, p->qmin, p->qmax);
        efm_store(y, i, p->out_size, v);
    }
}

#define EFM_REQUANT_LOOP(X)                                                                                     \
    for (int32_t i = 0; i < p->n; i++) {                                                                        \
        int64_t v = efm_mbqm_double((int64_t)(X)[i] - p->input_zp, p->mult, p->shift) + p->output_zp;           \
        efm_store(y, i, p->out_size, efm_clamp64(v, p->qmin, p->qmax));                                         \
    }

void efm_quantize_s16(const efm_quantize_params *p, const int16_t *x, void *y) {
    EFM_REQUANT_LOOP(x)
}

void efm_quantize_s32(const efm_quantize_params *p, const int32_t *x, void *y) {
    EFM_REQUANT_LOOP(x)
}
