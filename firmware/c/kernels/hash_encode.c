/* Portable reference HASH_ENCODE (the Cortex-M DSP variant is kernels/arm/hash_encode.c; it calls this loop as
 * efm_hash_encode_portable where its word path does not apply). */
#include "hash_encode.h"

#include "efm_kernel.h"

#ifdef EFM_ARM_HASH_ENCODE
void efm_hash_encode_portable(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors,
                              const int16_t *table, const int8_t *proj, const int32_t *offset, uint8_t *y,
                              int32_t *scratch) {
#else
void efm_hash_encode(const efm_hash_encode_params *p, const int8_t *x, const int8_t *anchors, const int16_t *table,
                     const int8_t *proj, const int32_t *offset, uint8_t *y, int32_t *scratch) {
#endif
    const int32_t nh = p->heads, d = p->depth, m = p->anchors, nb = p->bits, rad = p->radius, n = p->tokens;
    const int32_t cb = p->code_bytes, tw = 2 * rad + 1;
    int32_t *phi = scratch; /* the features [m]: the planner's kernel scratch (emitters/hash_encode.py) */
    for (int32_t b = 0; b < p->batch; b++) {
        for (int32_t t = 0; t < n; t++) {
            const int8_t *row = x + ((ptrdiff_t)b * n + t) * nh * d;
            for (int32_t h = 0; h < nh; h++) {
                const int8_t *xs = row + h * d;
                uint32_t q = 0;
                for (int32_t i = 0; i < d; i++) {
                    const int32_t v = (int32_t)xs[i] - p->x_zp;
                    q += (uint32_t)(v * v);
                }
                int32_t k = 0;
                int64_t c = 0; /* R floor(2^31 / r) */
                if (q > 0) {
                    const uint32_t dq = (uint32_t)d * q;
                    int32_t len = 0;
                    for (uint32_t u = dq; u; u >>= 1) {
                        len++;
                    }
                    k = (32 - len) >> 1;
                    const uint32_t r = efm_isqrt32(dq << (2 * k));
                    c = (int64_t)rad * (int64_t)(0x80000000u / r);
                }
                const int8_t *a = anchors + (ptrdiff_t)h * m * d;
                const int16_t *tab = table + (ptrdiff_t)h * tw + rad;
                for (int32_t j = 0; j < m; j++, a += d) {
                    int32_t s = 0;
                    for (int32_t i = 0; i < d; i++) {
                        const int32_t v = (int32_t)xs[i] - p->x_zp;
                        s += a[i] > 0 ? v : -v; /* a sign-selected addition */
                    }
                    int64_t idx = 0;
                    if (q > 0) {
                        idx = ((int64_t)s * ((int64_t)1 << k) * c + ((int64_t)1 << 30)) >> 31;
                    }
                    phi[j] = tab[efm_clamp64(idx, -rad, rad)];
                }
                const int8_t *pr = proj + (ptrdiff_t)h * nb * m;
                const int32_t *off = offset + h * nb;
                uint8_t *out = y + (((ptrdiff_t)b * nh + h) * n + t) * cb;
                for (int32_t i = 0; i < cb; i++) {
                    out[i] = 0;
                }
                for (int32_t kk = 0; kk < nb; kk++, pr += m) {
                    int32_t pre = -off[kk];
                    for (int32_t j = 0; j < m; j++) {
                        pre += pr[j] > 0 ? phi[j] : -phi[j];
                    }
                    if (pre >= 0) {
                        out[kk >> 3] |= (uint8_t)(1u << (kk & 7));
                    }
                }
            }
        }
    }
}
