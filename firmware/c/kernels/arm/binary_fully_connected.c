/* BINARY_FULLY_CONNECTED for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/binary_fully_connected.c.
 *
 * Per input row the values are stored once as unsigned bytes u = x + 128 (x XOR 0x80, zero-padded to whole weight
 * bytes). Per output feature and weight byte (8 inputs), each nibble of the weight bits selects bytes through a
 * 16-entry table of byte masks, AND keeps the selected u, and USADA8 adds the four bytes: S = sum of the selected
 * u. With n the weight row's popcount, sum_selected (x - zp) = S - (128 + zp) n, so
 * acc = 2 S + (bias - 2 (128 + zp) n) - sum (x - zp), the bracket precomputed per output feature (bias_adj). */
#ifdef EFM_ARM_BINARY_FULLY_CONNECTED

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "binary_fully_connected.h"
#include "efm_kernel.h"

/* Byte i is 0xFF where bit i of the index is set. */
static const uint32_t efm_bfc_masks[16] = {
    0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu, 0x00FFFF00u, 0x00FFFFFFu,
    0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu, 0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu,
};

static inline uint32_t efm_bfc_usada8(uint32_t a, uint32_t acc) {
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(0u), "r"(acc));
    return r;
}

/* S: the sum of the bytes of u (two words per weight byte) whose weight bit is set, over `nbytes` weight bytes. */
static inline uint32_t efm_bfc_selected(const uint8_t *wo, const uint32_t *u, int32_t nbytes) {
    uint32_t s0 = 0, s1 = 0;
    int32_t kb = 0;
    for (; kb + 4 <= nbytes; kb += 4, u += 8) {
        const uint32_t b = efm_load4(wo + kb);
        s0 = efm_bfc_usada8(efm_bfc_masks[b & 15u] & u[0], s0);
        s1 = efm_bfc_usada8(efm_bfc_masks[(b >> 4) & 15u] & u[1], s1);
        s0 = efm_bfc_usada8(efm_bfc_masks[(b >> 8) & 15u] & u[2], s0);
        s1 = efm_bfc_usada8(efm_bfc_masks[(b >> 12) & 15u] & u[3], s1);
        s0 = efm_bfc_usada8(efm_bfc_masks[(b >> 16) & 15u] & u[4], s0);
        s1 = efm_bfc_usada8(efm_bfc_masks[(b >> 20) & 15u] & u[5], s1);
        s0 = efm_bfc_usada8(efm_bfc_masks[(b >> 24) & 15u] & u[6], s0);
        s1 = efm_bfc_usada8(efm_bfc_masks[b >> 28] & u[7], s1);
    }
    for (; kb < nbytes; kb++, u += 2) {
        const uint32_t b = wo[kb];
        s0 = efm_bfc_usada8(efm_bfc_masks[b & 15u] & u[0], s0);
        s1 = efm_bfc_usada8(efm_bfc_masks[b >> 4] & u[1], s1);
    }
    return s0 + s1;
}

void efm_binary_fully_connected(const efm_binary_fully_connected_params *p, const int8_t *x, const uint8_t *w,
                                const int32_t *bias, int8_t *y, void *scratch) {
    (void)bias; /* folded into p->bias_adj */
    const int32_t depth = p->depth, cols = p->cols, nb = p->row_bytes, zp = p->input_zp;
    uint32_t *u = (uint32_t *)scratch;
    uint8_t *ub = (uint8_t *)scratch;
    for (int32_t r = 0; r < p->rows; r++, x += depth, y += cols) {
        int32_t total = 0;
        int32_t k = 0;
        for (; k + 4 <= depth; k += 4) {
            const uint32_t v = efm_load4(x + k);
            u[k >> 2] = v ^ 0x80808080u;
            total += (int32_t)(int8_t)v + (int32_t)(int8_t)(v >> 8) + (int32_t)(int8_t)(v >> 16) +
                     (int32_t)(int8_t)(v >> 24);
        }
        for (; k < depth; k++) {
            ub[k] = (uint8_t)(x[k] ^ 0x80);
            total += x[k];
        }
        for (; k < 8 * nb; k++) {
            ub[k] = 0;
        }
        total -= depth * zp;
        for (int32_t o = 0; o < cols; o++) {
            const int64_t acc = 2 * (int64_t)efm_bfc_selected(w + o * nb, u, nb) + p->bias_adj[o] - total;
            const int64_t v = efm_mbqm_single(acc, p->mult[o], p->shift[o]) + p->output_zp;
            y[o] = (int8_t)efm_clamp64(v, p->act_min, p->act_max);
        }
    }
}

#endif
