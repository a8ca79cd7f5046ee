/* HASH_ATTENTION: EcoFormer hash attention in linear form (docs/ops/HASH_ATTENTION.md). Per batch index: key
 * sums V, P[k] (values of the keys whose code bit k is set) and n1[k] by additions, then per query a selection of
 * P[k] or V - P[k] per bit, one reciprocal of the similarity sum and FULLY_CONNECTED's single-rounding
 * requantization. Needs scratch of (bits * d + d + bits) int32 (the planner reserves it). */
#ifndef EFM_HASH_ATTENTION_H
#define EFM_HASH_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t batch, n_queries, n_keys, depth, bits;
    int32_t packed;     /* 1: uint8 codes, bit k in bit k % 8 of byte k / 8; 0: int8 values, bit = (q >= zp) */
    int32_t code_bytes; /* last dimension of the code tensors */
    int32_t q_zp, k_zp; /* int8 codes */
    int32_t v_zp, output_zp, mult, shift;
    /* Cortex-M kernel: rshift >= 1 when its 32-bit output requantization SMMLA(w, mult, round) >> rshift applies
     * (round = 2^(rshift - 1) + (output_zp << rshift)), else 0 (64-bit); 0 for the portable kernel. */
    int32_t round, rshift;
} efm_hash_attention_params;

size_t efm_hash_attention_scratch_bytes(const efm_hash_attention_params *p);
void efm_hash_attention(const efm_hash_attention_params *p, const void *hq, const void *hk, const int8_t *v,
                        int8_t *y, int32_t *scratch);

#endif
