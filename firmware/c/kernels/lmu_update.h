/* LMU_UPDATE: per channel over T steps, m_i = sat32(((sum_j A[i][j] m_j + 2^(Fa-1)) >> Fa) + B[i] (u_t - zp))
 * (docs/ops/LMU_UPDATE.md); int8 states per step (single-rounding requantization) and the final int32 state.
 * The final-state output holds the running state; scratch of d int32 holds the new state of one step. */
#ifndef EFM_LMU_UPDATE_H
#define EFM_LMU_UPDATE_H

#include <stdint.h>

typedef struct {
    int32_t steps, channels, order; /* T, n = prod(S), d */
    int32_t a_frac_bits;
    int32_t input_zp, output_zp, mult, shift;
    /* Cortex-M kernel: rshift >= 1 when its 32-bit output requantization SMMLA(m, mult, round) >> rshift applies
     * (round = 2^(rshift - 1) + (output_zp << rshift)), else 0 (64-bit); 0 for the portable kernel. */
    int32_t round, rshift;
} efm_lmu_update_params;

/* m0 may be NULL (zeros) and may be m_out itself (streaming in place). */
void efm_lmu_update(const efm_lmu_update_params *p, const int8_t *u, const int32_t *a, const int32_t *b,
                    const int32_t *m0, int8_t *y, int32_t *m_out, int32_t *scratch);

#endif
