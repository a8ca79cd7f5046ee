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
    /* Cortex-M kernel, packed codes (0 for the portable kernel): how it evaluates the same sums (the emitter picks
     * the cheaper for the shapes): EFM_HA_FORM_LISTS (per bit, the row lists), EFM_HA_FORM_POPCOUNT (per query and
     * key pair the similarities b - popcount(q xor k) of two keys at once, then SMLAD of the similarity pairs with the
     * values; code bytes <= 2, depth a multiple of 4) or EFM_HA_FORM_PAIRS (per pair of code bits the key values
     * summed into 4 buckets by the pair's pattern; a query adds one bucket difference per pair) or EFM_HA_FORM_NIBBLES
     * (per nibble of code bits 16 buckets turned into a table of similarity-weighted sums; a query adds one row per
     * nibble; keys <= 64, depth a multiple of 4). */
    int32_t form;
    /* The values' and the output's addressing (transpose folding, v_perm / y_perm): the rows of batch index b
     * start at (b / n1) s0 + (b % n1) s1 and are `row` bytes apart (as stored: n1 = 1, s0 = rows x depth, s1 = 0,
     * row = depth). */
    int32_t v_n1, v_s0, v_s1, v_row, y_n1, y_s0, y_s1, y_row;
} efm_hash_attention_params;

/* The first value row of batch index b. */
static inline const int8_t *efm_ha_vbase(const efm_hash_attention_params *p, const int8_t *v, int32_t b) {
    return v + (ptrdiff_t)(b / p->v_n1) * p->v_s0 + (ptrdiff_t)(b % p->v_n1) * p->v_s1;
}

/* The first output row of batch index b. */
static inline int8_t *efm_ha_ybase(const efm_hash_attention_params *p, int8_t *y, int32_t b) {
    return y + (ptrdiff_t)(b / p->y_n1) * p->y_s0 + (ptrdiff_t)(b % p->y_n1) * p->y_s1;
}

#define EFM_HA_FORM_LISTS 0
#define EFM_HA_FORM_POPCOUNT 1
#define EFM_HA_FORM_PAIRS 2
#define EFM_HA_FORM_NIBBLES 3

size_t efm_hash_attention_scratch_bytes(const efm_hash_attention_params *p);
void efm_hash_attention(const efm_hash_attention_params *p, const void *hq, const void *hk, const int8_t *v,
                        int8_t *y, int32_t *scratch);

#ifdef EFM_ARM_HASH_ATTENTION
/* The Cortex-M forms' own entries (lists: any codes; the others packed codes, under the conditions of
 * efm_hash_attention's dispatch): generated code calls the form the emitter chose, so a model links only the forms
 * it runs. */
#define EFM_HA_ENTRY(NAME)                                                                                     \
    void NAME(const efm_hash_attention_params *p, const void *hq, const void *hk, const int8_t *v, int8_t *y,      \
              int32_t *scratch)
EFM_HA_ENTRY(efm_hash_attention_lists);
EFM_HA_ENTRY(efm_hash_attention_popcount);
EFM_HA_ENTRY(efm_hash_attention_pairs);
EFM_HA_ENTRY(efm_hash_attention_nibbles);
#endif

#endif
