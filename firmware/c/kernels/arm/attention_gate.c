/* ATTENTION_GATE for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/attention_gate.c.
 *
 * Four attention values per word: one SXTAB16 per two values subtracts the zero point in int16 lanes
 * ((a - zp) fits 9 bits), SMULBB / SMULTB multiply by the gate's Q15 sigmoid (T = 2^15 runs as -2^15 with the
 * multiplier negated, the product of the two signs the same), and where the emitter found it exact (rshift >= 1:
 * the multiplier is below 1/4 and |acc| < 2^23) the single-rounding requantization is SMMLA (rounding and output
 * zero point folded in), one shift and SSAT. Otherwise the 64-bit form. Safe in place. */
#ifdef EFM_ARM_ATTENTION_GATE

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "attention_gate.h"
#include "efm_kernel.h"

void efm_attention_gate(const efm_attention_gate_params *p, const int8_t *attn, const int8_t *gate, int8_t *y) {
    const int32_t depth = p->depth, gates = p->gates, zp = p->attn_zp, rs = p->rshift, rnd = p->round;
    const int32_t mult = p->mult, shift = p->shift, yzp = p->output_zp;
    const uint32_t nzp = (uint32_t)(-zp & 0xFFFF) * 0x10001u; /* -zp in both int16 lanes */
    for (int32_t g = 0; g < gates; g++, attn += depth, y += depth) {
        const int32_t s = p->table[(int32_t)gate[g] + 128];
        int32_t i = 0;
        if (rs > 0) {
            const int32_t s16 = s == 32768 ? -32768 : s, m = s == 32768 ? -mult : mult;
            for (; i + 4 <= depth; i += 4) {
                const uint32_t w = efm_load4(attn + i);
                const uint32_t ev = efm_sxtab16(nzp, w), od = efm_sxtab16_ror8(nzp, w);
                const int32_t a0 = efm_smulbb(ev, s16), a1 = efm_smulbb(od, s16);
                const int32_t a2 = efm_smultb(ev, s16), a3 = efm_smultb(od, s16);
                y[i] = efm_ssat8(efm_smmla(a0, m, rnd) >> rs);
                y[i + 1] = efm_ssat8(efm_smmla(a1, m, rnd) >> rs);
                y[i + 2] = efm_ssat8(efm_smmla(a2, m, rnd) >> rs);
                y[i + 3] = efm_ssat8(efm_smmla(a3, m, rnd) >> rs);
            }
        }
        for (; i < depth; i++) {
            const int64_t acc = (int64_t)((int32_t)attn[i] - zp) * s;
            y[i] = (int8_t)efm_clamp64(efm_mbqm_single(acc, mult, shift) + yzp, -128, 127);
        }
    }
}

#endif
