/* HASH_ENCODE for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/hash_encode.c
 * (docs/ops/HASH_ENCODE.md), no multiplication in the anchor or projection products.
 *
 * Per token and head (d a multiple of 4, else the portable loop): the squared norm of x - zp four bytes per word
 * (SXTB16, SSUB16 of the zero point, SMLAD); the anchor sums four anchors at a time: per word of x one LDM of the
 * four anchors' XOR masks (0xFF bytes where the sign is -1, then XOR 0x80: ones' complement negation and the
 * signed-to-unsigned offset), four EOR and four USADA8 (the byte sums), so S_j = USADA8 sum + corr_j (the
 * emitter's constant: -128 d, the ones' complement 1s and the zero point); floor(sqrt(d Q 4^k)) by integer Newton
 * steps (UDIV) from above; per anchor idx = SMMULR(S_j 2^(k+1), R floor(2^31 / r)), the clamp and one LDRSH of the
 * feature table. The projection: per group of four anchors the 16 sums +-phi (subset sums, 15 additions), then per
 * code bit one lookup per group by the emitter's nibble of +1 signs, the offset compare and the bit set. */
#ifdef EFM_ARM_HASH_ENCODE

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "hash_encode.h"

#define EFM_HE_MAX_WORDS 64 /* d <= 256 */

/* floor(sqrt(n)) for 2^30 <= n < 2^32: integer Newton steps from a start >= sqrt(n) (by AM-GM, n / 2a + a / 2 >=
 * sqrt(n) for a = 2^15 below 2^31 and a = 2^16 above, plus one for the floor); stops when a step no longer
 * decreases, which leaves the floor of the root. */
static inline uint32_t efm_he_root(uint32_t n) {
    uint32_t r = n < 0x80000000u ? (n >> 16) + 0x4001u : (n >> 17) + 0x8001u;
    for (;;) {
        const uint32_t s = (r + n / r) >> 1;
        if (s >= r) {
            return r;
        }
        r = s;
    }
}

/* S_j (j = 4 g .. 4 g + 3) of one head's x words: USADA8 of x XOR the masks, four anchors per LDM of masks. */
static inline __attribute__((always_inline)) void efm_he_sums4(const uint32_t *xv, int32_t words,
                                                               const uint32_t *mk, const int32_t *corr,
                                                               int32_t s[4]) {
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int32_t w = 0; w < words; w++, mk += 4) {
        const uint32_t v = xv[w];
        a0 = efm_usada8(v ^ mk[0], 0, a0);
        a1 = efm_usada8(v ^ mk[1], 0, a1);
        a2 = efm_usada8(v ^ mk[2], 0, a2);
        a3 = efm_usada8(v ^ mk[3], 0, a3);
    }
    s[0] = (int32_t)a0 + corr[0];
    s[1] = (int32_t)a1 + corr[1];
    s[2] = (int32_t)a2 + corr[2];
    s[3] = (int32_t)a3 + corr[3];
}

/* The 16 signed sums of four features: sub[mask] = sum_t (bit t of mask ? +phi_t : -phi_t). */
static inline __attribute__((always_inline)) void efm_he_subsets(int32_t p0, int32_t p1, int32_t p2, int32_t p3,
                                                                 int32_t *sub) {
    const int32_t s0 = -(p0 + p1 + p2 + p3), d0 = 2 * p0, d1 = 2 * p1, d2 = 2 * p2, d3 = 2 * p3;
    const int32_t s1 = s0 + d0, s2 = s0 + d1, s3 = s1 + d1;
    sub[0] = s0;
    sub[1] = s1;
    sub[2] = s2;
    sub[3] = s3;
    sub[4] = s0 + d2;
    sub[5] = s1 + d2;
    sub[6] = s2 + d2;
    sub[7] = s3 + d2;
    sub[8] = s0 + d3;
    sub[9] = s1 + d3;
    sub[10] = s2 + d3;
    sub[11] = s3 + d3;
    sub[12] = s0 + d2 + d3;
    sub[13] = s1 + d2 + d3;
    sub[14] = s2 + d2 + d3;
    sub[15] = s3 + d2 + d3;
}

void efm_hash_encode(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors, const int16_t *table,
                     const int8_t *proj, const int32_t *offset, uint8_t *y, int32_t *scratch) {
    const int32_t d = p->depth;
    if ((d & 3) != 0 || p->masks == NULL || scratch == NULL) {
        efm_hash_encode_portable(p, x, anchors, table, proj, offset, y, scratch);
        return;
    }
    const int32_t nh = p->heads, m = p->anchors, nb = p->bits, rad = p->radius, n = p->tokens, cb = p->code_bytes;
    const int32_t words = d >> 2, groups = (m + 3) >> 2, tw = 2 * rad + 1;
    const uint32_t zp2 = ((uint32_t)p->x_zp & 0xFFFFu) * 0x00010001u;
    uint32_t xv[EFM_HE_MAX_WORDS];
    for (int32_t b = 0; b < p->batch; b++) {
        for (int32_t t = 0; t < n; t++) {
            const int8_t *row = x + ((ptrdiff_t)b * n + t) * nh * d;
            for (int32_t h = 0; h < nh; h++) {
                int32_t q = 0;
                for (int32_t w = 0; w < words; w++) {
                    const uint32_t v = efm_load4(row + h * d + 4 * w);
                    const uint32_t lo = efm_ssub16(efm_sxtb16(v), zp2), hi = efm_ssub16(efm_sxtb16_ror8(v), zp2);
                    q = efm_smlad(lo, lo, efm_smlad(hi, hi, q));
                    xv[w] = v;
                }
                int32_t sh = 0, c = 0;
                if (q > 0) {
                    const uint32_t dq = (uint32_t)d * (uint32_t)q;
                    const int32_t k = __builtin_clz(dq) >> 1;
                    sh = k + 1;
                    c = rad * (int32_t)(0x80000000u / efm_he_root(dq << (2 * k)));
                }
                const uint32_t *mk = p->masks + (ptrdiff_t)h * groups * words * 4;
                const int32_t *corr = p->corr + h * groups * 4;
                const int16_t *tab = table + (ptrdiff_t)h * tw + rad;
                for (int32_t g = 0; g < groups; g++, mk += 4 * words, corr += 4) {
                    int32_t s[4], ph[4];
                    efm_he_sums4(xv, words, mk, corr, s);
                    for (int32_t e = 0; e < 4; e++) {
                        int32_t idx = efm_smmulr((int32_t)((uint32_t)s[e] << sh), c);
                        idx = idx > rad ? rad : (idx < -rad ? -rad : idx);
                        ph[e] = 4 * g + e < m ? tab[idx] : 0;
                    }
                    efm_he_subsets(ph[0], ph[1], ph[2], ph[3], scratch + 16 * g);
                }
                const uint8_t *nib = p->nibbles + (ptrdiff_t)h * nb * groups;
                const int32_t *off = offset + h * nb;
                uint8_t *out = y + (((ptrdiff_t)b * nh + h) * n + t) * cb;
                uint32_t code = 0;
                int32_t kk = 0;
                if (groups == 2) {
                    const int32_t *sub1 = scratch + 16;
                    for (; kk < nb; kk++, nib += 2) {
                        code |= (uint32_t)(scratch[nib[0]] + sub1[nib[1]] >= off[kk]) << (kk & 7);
                        if ((kk & 7) == 7) {
                            out[kk >> 3] = (uint8_t)code;
                            code = 0;
                        }
                    }
                } else {
                    for (; kk < nb; kk++) {
                        int32_t pre = 0;
                        for (int32_t g = 0; g < groups; g++) {
                            pre += scratch[16 * g + *nib++];
                        }
                        code |= (uint32_t)(pre >= off[kk]) << (kk & 7);
                        if ((kk & 7) == 7) {
                            out[kk >> 3] = (uint8_t)code;
                            code = 0;
                        }
                    }
                }
                if (nb & 7) {
                    out[nb >> 3] = (uint8_t)code;
                }
            }
        }
    }
}

#endif
