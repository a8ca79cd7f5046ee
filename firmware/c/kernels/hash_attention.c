/* Portable reference HASH_ATTENTION (linear form; the Cortex-M DSP variant is kernels/arm/hash_attention.c). */
#include "hash_attention.h"

#include <stddef.h>

#include "efm_kernel.h"

#ifndef EFM_ARM_HASH_ATTENTION

size_t efm_hash_attention_scratch_bytes(const efm_hash_attention_params *p) {
    return (size_t)(p->bits * p->depth + p->depth + p->bits) * sizeof(int32_t);
}

static int32_t efm_code_bit(const efm_hash_attention_params *p, const void *codes, int32_t row, int32_t k,
                            int32_t zp) {
    if (p->packed) {
        const uint8_t *c = (const uint8_t *)codes + row * p->code_bytes;
        return (c[k >> 3] >> (k & 7)) & 1;
    }
    const int8_t *c = (const int8_t *)codes + row * p->code_bytes;
    return c[k] >= zp;
}

static int32_t efm_bit_length32(uint32_t n) {
    int32_t b = 0;
    while (n) {
        b++;
        n >>= 1;
    }
    return b;
}

void efm_hash_attention(const efm_hash_attention_params *p, const void *hq, const void *hk, const int8_t *v,
                        int8_t *y, int32_t *scratch) {
    const int32_t d = p->depth, nb = p->bits, nk = p->n_keys, nq = p->n_queries;
    int32_t *psum = scratch;        /* [bits][d] */
    int32_t *vsum = psum + nb * d;  /* [d] */
    int32_t *ones = vsum + d;       /* [bits] */
    for (int32_t b = 0; b < p->batch; b++) {
        const int32_t krow0 = b * nk, qrow0 = b * nq;
        const int8_t *vb = efm_ha_vbase(p, v, b);
        int8_t *yb = efm_ha_ybase(p, y, b);
        for (int32_t i = 0; i < nb * d + d + nb; i++) {
            scratch[i] = 0;
        }
        for (int32_t j = 0; j < nk; j++) {
            const int8_t *vj = vb + (ptrdiff_t)j * p->v_row;
            for (int32_t c = 0; c < d; c++) {
                vsum[c] += (int32_t)vj[c] - p->v_zp;
            }
            for (int32_t k = 0; k < nb; k++) {
                if (efm_code_bit(p, hk, krow0 + j, k, p->k_zp)) {
                    ones[k]++;
                    int32_t *pk = psum + k * d;
                    for (int32_t c = 0; c < d; c++) {
                        pk[c] += (int32_t)vj[c] - p->v_zp;
                    }
                }
            }
        }
        for (int32_t i = 0; i < nq; i++) {
            int8_t *yi = yb + (ptrdiff_t)i * p->y_row;
            int64_t den = 0;
            for (int32_t k = 0; k < nb; k++) {
                den += efm_code_bit(p, hq, qrow0 + i, k, p->q_zp) ? ones[k] : nk - ones[k];
            }
            const int32_t len = efm_bit_length32((uint32_t)den);
            const int64_t recip = den > 0 ? (int64_t)(((uint64_t)1 << (29 + len)) / (uint64_t)den) : 0;
            for (int32_t c = 0; c < d; c++) {
                int64_t num = 0;
                for (int32_t k = 0; k < nb; k++) {
                    const int32_t pkc = psum[k * d + c];
                    num += efm_code_bit(p, hq, qrow0 + i, k, p->q_zp) ? pkc : vsum[c] - pkc;
                }
                const int64_t w = (num * recip + ((int64_t)1 << (13 + len))) >> (14 + len);
                yi[c] = (int8_t)efm_clamp64(efm_mbqm_single(w, p->mult, p->shift) + p->output_zp, -128, 127);
            }
        }
    }
}

#endif
