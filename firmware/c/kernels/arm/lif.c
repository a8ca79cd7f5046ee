/* LIF for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/lif.c.
 *
 * Per neuron and step, in 32-bit instructions where the emitter found them exact (mode):
 * - the input current mbqm(x - zp, M, e) = SMMULR((x - zp) 2^(e+1), M) (e >= -1 and (x - zp) 2^(e+1) fits 32 bits):
 *   one MLA (x * 2^(e+1) - zp 2^(e+1)) and one SMMULR;
 * - the leak (v D + 2^14) >> 15: with K = 2^15 - D <= 2^14 (tau >= 2) it is v + ((2^14 - v K) >> 15) =
 *   SMMLAR(v, -K 2^17, v), else SMMULR(v, D 2^17): one instruction;
 * - the int32 clamp of leak + current is QADD; the threshold compare QSUB(h, theta) (its sign), the spike and the
 *   hard reset one ADD and one AND of its sign mask.
 * Time runs outermost, the membrane in v_out between steps.
 * Other layers (int16 inputs with large gains, gains below 1/2) take the 64-bit current. */
#ifdef EFM_ARM_LIF

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "lif.h"

/* One step of one neuron: returns the new membrane, writes the spike. q = QSUB(h, theta) has the sign of
 * h - theta, so the spike is 1 + (q >> 31) and the reset membrane h & (q >> 31). */
static inline __attribute__((always_inline)) int32_t efm_lif_step(const efm_lif_params *p, int32_t v, int32_t xv,
                                                                  int32_t mode, uint8_t *s) {
    const int32_t leak = (mode & 1) ? efm_smmlar(v, p->leak32, v) : efm_smmulr(v, p->leak32);
    int32_t h;
    if (mode & 2) {
        h = efm_qadd(leak, efm_smmulr(xv * p->in_scale + p->in_offset, p->mult));
    } else {
        h = (int32_t)efm_clamp64((int64_t)leak + efm_mbqm_single((int64_t)xv - p->input_zp, p->mult, p->shift),
                                 EFM_INT32_MIN, EFM_INT32_MAX);
    }
    const int32_t below = efm_qsub(h, p->theta) >> 31; /* -1 below the threshold, else 0 */
    *s = (uint8_t)(1 + below);
    return h & below;
}

/* All steps, time outermost (the membrane lives in v_out between steps, so the inputs and spikes stream
 * contiguously); inlined per (input bytes, mode) so that each loop is branch-free. */
static inline __attribute__((always_inline)) void efm_lif_run(const efm_lif_params *p, const void *x, int32_t bytes,
                                                              int32_t mode, const int32_t *v0, uint8_t *spikes,
                                                              int32_t *v_out) {
    const efm_lif_params q = *p; /* the parameters in registers: the spike stores may alias anything */
    const int32_t n_all = q.neurons;
    for (int32_t t = 0; t < q.steps; t++) {
        const int8_t *x8 = (const int8_t *)x + t * n_all;
        const int16_t *x16 = (const int16_t *)x + t * n_all;
        uint8_t *s = spikes + t * n_all;
        const int32_t *vin = t == 0 ? v0 : v_out;
        if (vin == NULL) {
            for (int32_t n = 0; n < n_all; n++) {
                v_out[n] = efm_lif_step(&q, 0, bytes == 1 ? x8[n] : x16[n], mode, s + n);
            }
        } else {
            for (int32_t n = 0; n < n_all; n++) {
                v_out[n] = efm_lif_step(&q, vin[n], bytes == 1 ? x8[n] : x16[n], mode, s + n);
            }
        }
    }
}

/* The 64-bit input current (any input size and leak form, branching per step). */
__attribute__((noinline)) static void efm_lif_slow(const efm_lif_params *p, const void *x, int32_t x_bytes,
                                                   const int32_t *v0, uint8_t *spikes, int32_t *v_out) {
    efm_lif_run(p, x, x_bytes, p->mode & 1, v0, spikes, v_out);
}

void efm_lif(const efm_lif_params *p, const void *x, int32_t x_bytes, const int32_t *v0, uint8_t *spikes,
             int32_t *v_out) {
    switch ((x_bytes == 1 ? 0 : 4) | (p->mode & 3)) {
    case 2:
        efm_lif_run(p, x, 1, 2, v0, spikes, v_out);
        break;
    case 3:
        efm_lif_run(p, x, 1, 3, v0, spikes, v_out);
        break;
    case 6:
        efm_lif_run(p, x, 2, 2, v0, spikes, v_out);
        break;
    case 7:
        efm_lif_run(p, x, 2, 3, v0, spikes, v_out);
        break;
    default:
        efm_lif_slow(p, x, x_bytes, v0, spikes, v_out);
        break;
    }
}

#endif
