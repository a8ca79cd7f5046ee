/* ATTENTION_GATE: y = requant((attn - zp_a) * T[g + 128]) with T the Q15 sigmoid table of the gate logits
 * (edgefmr.ops.attention_gate.gate_table), single rounding. Safe in place on attn. */
#ifndef EFM_ATTENTION_GATE_H
#define EFM_ATTENTION_GATE_H

#include <stdint.h>

typedef struct {
    int32_t gates; /* number of gate values (attn vectors) */
    int32_t depth; /* attn elements per gate */
    int32_t attn_zp, output_zp, mult, shift;
    const int32_t *table; /* 256 entries */
    /* Cortex-M kernel: rshift >= 1 when its 32-bit requantization SMMLA(acc, mult, round) >> rshift applies
     * (round = 2^(rshift - 1) + (output_zp << rshift)), else 0 (64-bit); 0 for the portable kernel. */
    int32_t round, rshift;
} efm_attention_gate_params;

void efm_attention_gate(const efm_attention_gate_params *p, const int8_t *attn, const int8_t *gate, int8_t *y);

#endif
