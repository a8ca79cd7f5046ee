/* Portable reference ATTENTION_GATE (the Cortex-M DSP variant is kernels/arm/attention_gate.c). */
#include "attention_gate.h"

#include "efm_kernel.h"

#ifndef EFM_ARM_ATTENTION_GATE

void efm_attention_gate(const efm_attention_gate_params *p, const int8_t *attn, const int8_t *gate, int8_t *y) {
    for (int32_t g = 0; g < p->gates; g++, attn += p->depth, y += p->depth) {
        const int32_t s = p->table[(int32_t)gate[g] + 128];
        for (int32_t i = 0; i < p->depth; i++) {
            const int64_t acc = (int64_t)((int32_t)attn[i] - p->attn_zp) * s;
            y[i] = (int8_t)efm_clamp64(efm_mbqm_single(acc, p->mult, p->shift) + p->output_zp, -128, 127);
        }
    }
}

#endif
