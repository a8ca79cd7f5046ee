/* HASH_ENCODE: EcoFormer's kernelized hash of queries or keys as one op (docs/ops/HASH_ENCODE.md). Per token and
 * head: the squared norm Q of x - zp, the anchor sums S_j (sign-selected additions), the cosine index
 * idx_j = clamp(round(R S_j / sqrt(d Q)), -R, R) from one exact integer square root and one reciprocal, the feature
 * phi_j = T[idx_j + R] (one lookup per anchor), the projection sums pre_k = sum_j +-phi_j - off_k (sign-selected
 * additions) and the code bits pre_k >= 0, packed (bit k in bit k % 8 of byte k / 8). */
#ifndef EFM_HASH_ENCODE_H
#define EFM_HASH_ENCODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t batch, tokens, heads, depth, anchors, bits, radius, code_bytes, x_zp;
    /* Cortex-M kernel only (NULL for the portable kernel): per head and anchor the words USADA8 takes against four
     * input bytes XOR 0x80808080 (0xFF bytes where the anchor sign is -1) [H][m][d/4], the constant that
     * turns the USADA8 sum into S_j [H][m], and per head and bit the index 16 g + (4-bit mask of the +1 projection signs)
     * of each group g of four anchors [H][b][ceil(m/4)]. */
    const uint32_t *masks;
    const int32_t *corr;
    const uint16_t *nibbles;
    /* Cortex-M kernel, feature tables within 0..255 only (else NULL): per head and bit the ceil(m/4) words USADA8
     * takes against the features packed as bytes (0xFF where the projection sign is -1) and minus the threshold
     * offset_k + 255 n_k (n_k the -1 signs) [H][b][ceil(m/4) + 1]: the USADA8 sums are 255 n_k + sum_j p_kj phi_j. */
    const uint32_t *pmask;
} efm_hash_encode_params;

/* y [*B][H][N][code_bytes] from x [*B][N][H * d]; scratch: the work arrays the planner reserves for the node
 * (emitters/hash_encode.py `scratch`): the portable loop's features [m] int32, the Cortex-M word paths' sums and x
 * words (NULL for its d = 16 straight-line pass, which needs none). */
void efm_hash_encode(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors, const int16_t *table,
                     const int8_t *proj, const int32_t *offset, uint8_t *y, int32_t *scratch);

#ifdef EFM_ARM_HASH_ENCODE
/* The portable loop (kernels/hash_encode.c), which the Cortex-M kernel calls where its word path does not apply. */
void efm_hash_encode_portable(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors,
                              const int16_t *table, const int8_t *proj, const int32_t *offset, uint8_t *y,
                              int32_t *scratch);
#endif

#endif
