/* SPIKE_FULLY_CONNECTED for Cortex-M4/M7 with the DSP extension: bit-exact with kernels/spike_fully_connected.c,
 * and event-driven: its cost falls with the firing rate.
 *
 * The weights come transposed at generation time, [depth + 1][cols_pad] (each input's weights to every output in
 * one contiguous row, the output features padded to a multiple of 4, then a row of zeros). Per input row the spikes
 * are scanned a word at a time (a load and a branch per four silent inputs; UQADD8 and CLZ find the active bytes of
 * a nonzero word) into a list of the active inputs' weight-row offsets. Then, per block of 16 (8, 4) output
 * features, the weight rows of the active inputs are added into int16 lane pairs with SXTAB16 (two additions per
 * instruction: per active input and 16 outputs, two LDRD and eight SXTAB16; the first row sets the lanes with
 * SXTB16). The int16 lanes are exact: at most 256 active inputs are summed per pass (256 * 128 = 2^15); longer
 * lists run in passes added in int32. The requantization runs in 32 bits where the emitter found it exact
 * (requant32: bias, SMMLA with the rounding and zero point folded, one shift, SSAT; for whole blocks of 16 straight
 * from the accumulator registers), else in 64 bits. */
#ifdef EFM_ARM_SPIKE_FULLY_CONNECTED

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* efm_arm.h's helpers this kernel does not use */
#include "efm_arm.h"
#pragma GCC diagnostic pop
#include "efm_kernel.h"
#include "spike_fully_connected.h"

/* Active inputs summed per pass in int16 lanes: |sum| <= 256 * 128 = 2^15. */
#define EFM_SFC_PASS 256

/* The offsets of the nonzero bytes of the word just loaded into v (byte 3 at offset b): UQADD8 with 0x7f sets
 * bit 7 of each nonzero byte, then per set bit, highest first: CLZ, the bit cleared, the scaled offset b - clz cp
 * (b: 8 cp times the index of byte 3) stored. Six instructions per active input. The order of the list does not
 * matter: the sums are exact. */
#define EFM_SFC_BITS(L)                                                                                         \
    "uqadd8 %[m], %[v], %[k7f]\n\t"                                                                                \
    "ands %[m], %[m], #0x80808080\n\t"                                                                           \
    L ":\n\t"                                                                                                    \
    "clz %[z], %[m]\n\t"                                                                                         \
    "lsr %[t], %[k80], %[z]\n\t"                                                                                 \
    "bics %[m], %[m], %[t]\n\t"                                                                                  \
    "mls %[z], %[z], %[cp], %[b]\n\t"                                                                            \
    "str %[z], [%[l]], #4\n\t"                                                                                   \
    "bne " L "b\n\t"

/* The scaled weight-row offsets (8 k cp: the loops add them to the base ASR #3) of the active inputs among the
 * first `groups` * 16 bytes of a spike row, in any order, appended at l (groups >= 1); returns the new end. Per word
 * of zeros a load and a branch. */
static inline __attribute__((always_inline)) int32_t *efm_sfc_list16(const uint8_t *p, int32_t groups, int32_t cp,
                                                                     int32_t *l) {
    int32_t off3 = 24 * cp, b, z, t;
    const int32_t cp4 = 32 * cp;
    uint32_t v, m;
    __asm__ volatile("1:\n\t"
                     "ldr %[v], [%[p]], #4\n\t"
                     "cbz %[v], 10f\n\t"
                     "mov %[b], %[off3]\n\t" EFM_SFC_BITS("11")
                     "10:\n\t"
                     "ldr %[v], [%[p]], #4\n\t"
                     "cbz %[v], 20f\n\t"
                     "add %[b], %[off3], %[cp4]\n\t" EFM_SFC_BITS("21")
                     "20:\n\t"
                     "ldr %[v], [%[p]], #4\n\t"
                     "cbz %[v], 30f\n\t"
                     "add %[b], %[off3], %[cp4], lsl #1\n\t" EFM_SFC_BITS("31")
                     "30:\n\t"
                     "ldr %[v], [%[p]], #4\n\t"
                     "cbz %[v], 40f\n\t"
                     "add %[b], %[off3], %[cp4], lsl #1\n\t"
                     "add %[b], %[b], %[cp4]\n\t" EFM_SFC_BITS("41")
                     "40:\n\t"
                     "add %[off3], %[off3], %[cp4], lsl #2\n\t"
                     "subs %[g], %[g], #1\n\t"
                     "bne 1b\n\t"
                     : [p] "+&r"(p), [g] "+&r"(groups), [off3] "+&r"(off3), [l] "+&r"(l), [v] "=&l"(v), [m] "=&r"(m),
                       [z] "=&r"(z), [t] "=&r"(t), [b] "=&r"(b)
                     : [cp] "r"(cp), [cp4] "r"(cp4), [k80] "r"(0x80000000u), [k7f] "r"(0x7f7f7f7fu)
                     : "cc", "memory");
    return l;
}

__attribute__((noinline)) static int32_t *efm_sfc_list16_nc(const uint8_t *p, int32_t groups, int32_t cp,
                                                             int32_t *l) {
    return groups > 0 ? efm_sfc_list16(p, groups, cp, l) : l;
}

/* The scaled weight-row offsets (8 k cp) of the active inputs of one spike row, in any order; returns the count. After
 * the groups of 16 bytes, words (each nonzero byte found as in EFM_SFC_BITS), then bytes. */
static int32_t efm_sfc_list(const uint8_t *s, int32_t depth, int32_t cp, int32_t *list) {
    int32_t *l = efm_sfc_list16_nc(s, depth >> 4, cp, list);
    int32_t k = depth & ~15;
    for (; k + 4 <= depth; k += 4) {
        uint32_t m;
        __asm__("uqadd8 %0, %1, %2" : "=r"(m) : "r"(efm_load4(s + k)), "r"(0x7f7f7f7fu));
        for (m &= 0x80808080u; m; m &= m - 1) {
            *l++ = 8 * (k + (__builtin_ctz(m) >> 3)) * cp;
        }
    }
    for (; k < depth; k++) {
        *l = 8 * k * cp;
        l += s[k] != 0;
    }
    return (int32_t)(l - list);
}

/* Accumulating (sxtab16) and first (sxtb16: the accumulators start at the first input's weights) additions of one
 * weight row of 4, 8 or 16 columns at offset o from the block's base. */
#define EFM_SFC_ROW4(o, X, A)                                                                                    \
    "add " o ", %[b], " o ", asr #3\n\t"                                                                         \
    "ldr %[w0], [" o "]\n\t"                                                                                     \
    X " %[a0], " A("a0") "%[w0]\n\t"                                                                            \
    X " %[a1], " A("a1") "%[w0], ror #8\n\t"

#define EFM_SFC_ROW8(o, X, A)                                                                                    \
    "add " o ", %[b], " o ", asr #3\n\t"                                                                         \
    "ldrd %[w0], %[w1], [" o "]\n\t"                                                                             \
    X " %[a0], " A("a0") "%[w0]\n\t"                                                                            \
    X " %[a1], " A("a1") "%[w0], ror #8\n\t"                                                                    \
    X " %[a2], " A("a2") "%[w1]\n\t"                                                                            \
    X " %[a3], " A("a3") "%[w1], ror #8\n\t"

#define EFM_SFC_ROW16(o, X, A)                                                                                   \
    EFM_SFC_ROW8(o, X, A)                                                                                       \
    "ldrd %[w0], %[w1], [" o ", #8]\n\t"                                                                         \
    X " %[a4], " A("a4") "%[w0]\n\t"                                                                            \
    X " %[a5], " A("a5") "%[w0], ror #8\n\t"                                                                    \
    X " %[a6], " A("a6") "%[w1]\n\t"                                                                            \
    X " %[a7], " A("a7") "%[w1], ror #8\n\t"

#define EFM_SFC_ACC_OPND(r) "%[" r "], "
#define EFM_SFC_NO_OPND(r) ""
#define EFM_SFC_ADD4(o) EFM_SFC_ROW4(o, "sxtab16", EFM_SFC_ACC_OPND)
#define EFM_SFC_ADD8(o) EFM_SFC_ROW8(o, "sxtab16", EFM_SFC_ACC_OPND)
#define EFM_SFC_ADD16(o) EFM_SFC_ROW16(o, "sxtab16", EFM_SFC_ACC_OPND)
#define EFM_SFC_FIRST4(o) EFM_SFC_ROW4(o, "sxtb16", EFM_SFC_NO_OPND)
#define EFM_SFC_FIRST8(o) EFM_SFC_ROW8(o, "sxtb16", EFM_SFC_NO_OPND)
#define EFM_SFC_FIRST16(o) EFM_SFC_ROW16(o, "sxtb16", EFM_SFC_NO_OPND)

/* The loop over a list: its count n >= 1, then n weight-row offsets and a negative sentinel. The first row sets
 * the accumulators, a second one follows alone when n is even, then two per iteration. */
#define EFM_SFC_LOOP(FIRST, ADD)                                                                                \
    "ldr %[o], [%[l]], #4\n\t"                                                                                   \
    "lsls %[o], %[o], #31\n\t"                                                                                   \
    "ldr %[o], [%[l]], #4\n\t" FIRST("%[o]") "bne 3f\n\t"                                                        \
    "4:\n\t"                                                                                                     \
    "ldr %[o], [%[l]], #4\n\t" ADD("%[o]") "3:\n\t"                                                              \
    "ldr %[o], [%[l]], #4\n\t"                                                                                   \
    "cmp %[o], #0\n\t"                                                                                           \
    "blt 2f\n\t" ADD("%[o]") "b 4b\n\t"                                                                          \
    "2:\n\t"

/* EFM_SFC_LOOP for 16 columns with the offsets read two at a time (LDRD: 25 instructions per two active inputs
 * instead of 27): after the first row (and a second one alone when n is even) the rest come in pairs up to the
 * sentinel; the list has one more readable entry after the sentinel. */
#define EFM_SFC_LOOP2                                                                                           \
    "ldrd %[o], %[p], [%[l]], #8\n\t"                                                                            \
    "lsls %[o], %[o], #31\n\t" EFM_SFC_FIRST16("%[p]") "bne 3f\n\t"                                           \
    "ldr %[o], [%[l]], #4\n\t" EFM_SFC_ADD16("%[o]") "3:\n\t"                                                 \
    "ldrd %[o], %[p], [%[l]], #8\n\t"                                                                          \
    "cmp %[o], #0\n\t"                                                                                         \
    "blt 2f\n\t"                                                                                               \
    "4:\n\t" EFM_SFC_ADD16("%[o]") EFM_SFC_ADD16("%[p]")                                                       \
    "ldrd %[o], %[p], [%[l]], #8\n\t"                                                                          \
    "cmp %[o], #0\n\t"                                                                                         \
    "bge 4b\n\t"                                                                                               \
    "2:\n\t"

/* Sums of 16 (8, 4) int8 weight columns (base: the block's first column) over the active inputs of `list` (as
 * EFM_SFC_LOOP reads it, 1..EFM_SFC_PASS offsets), as int16 lane pairs: pk[2j] = (column 4j, column 4j + 2),
 * pk[2j + 1] = (4j + 1, 4j + 3). 26 instructions per two active inputs and 16 columns. */
static inline __attribute__((always_inline)) void efm_sfc_acc16(const int32_t *list, const int8_t *base,
                                                                uint32_t pk[8]) {
    uint32_t a0, a1, a2, a3, a4, a5, a6, a7, w0, w1;
    int32_t o;
    __asm__ volatile(EFM_SFC_LOOP(EFM_SFC_FIRST16, EFM_SFC_ADD16)
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
                       [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [w0] "=&r"(w0), [w1] "=&r"(w1),
                       [o] "=&r"(o), [l] "+r"(list)
                     : [b] "r"(base)
                     : "cc", "memory");
    pk[0] = a0;
    pk[1] = a1;
    pk[2] = a2;
    pk[3] = a3;
    pk[4] = a4;
    pk[5] = a5;
    pk[6] = a6;
    pk[7] = a7;
}

static void efm_sfc_acc8(const int32_t *list, const int8_t *base, uint32_t pk[4]) {
    uint32_t a0, a1, a2, a3, w0, w1;
    int32_t o;
    __asm__ volatile(EFM_SFC_LOOP(EFM_SFC_FIRST8, EFM_SFC_ADD8)
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w0] "=&r"(w0),
                       [w1] "=&r"(w1), [o] "=&r"(o), [l] "+r"(list)
                     : [b] "r"(base)
                     : "cc", "memory");
    pk[0] = a0;
    pk[1] = a1;
    pk[2] = a2;
    pk[3] = a3;
}

static void efm_sfc_acc4(const int32_t *list, const int8_t *base, uint32_t pk[2]) {
    uint32_t a0, a1, w0;
    int32_t o;
    __asm__ volatile(EFM_SFC_LOOP(EFM_SFC_FIRST4, EFM_SFC_ADD4)
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [w0] "=&r"(w0), [o] "=&r"(o), [l] "+r"(list)
                     : [b] "r"(base)
                     : "cc", "memory");
    pk[0] = a0;
    pk[1] = a1;
}

/* acc + the signed low / high half of `pair`. */
static inline int32_t efm_sxtah_lo(int32_t acc, uint32_t pair) {
    int32_t r;
    __asm__("sxtah %0, %1, %2" : "=r"(r) : "r"(acc), "r"(pair));
    return r;
}

static inline int32_t efm_sxtah_hi(int32_t acc, uint32_t pair) {
    return acc + ((int32_t)pair >> 16);
}

/* (efm_ssat8: efm_arm.h) */

/* Requantization of the Cortex-M kernel: the requant32 entries of the block's first output feature, the clamp
 * range and which form (kind 0: 32 bits clamped to int8, no activation; 1: 32 bits with the activation range;
 * 2: 64 bits, from mult / shift and the bias). */
typedef struct {
    const int32_t *q;
    const int32_t *mult, *shift, *bias;
    int32_t zp, lo, hi;
} efm_sfc_req;

/* Output feature i of the block from its accumulator `acc` (the bias not yet added), kind 1 or 2. */
__attribute__((noinline)) static int8_t efm_sfc_out_any(const efm_sfc_req *r, int32_t i, int32_t acc, int kind) {
    if (kind == 2) {
        const int64_t v = efm_mbqm_single((int64_t)acc + (r->bias ? r->bias[i] : 0), r->mult[i], r->shift[i]) +
                          r->zp;
        return (int8_t)efm_clamp64(v, r->lo, r->hi);
    }
    const int32_t *q = r->q + 4 * i;
    const int32_t v = efm_smmla(acc + q[0], q[1], q[2]) >> q[3];
    return (int8_t)(v < r->lo ? r->lo : (v > r->hi ? r->hi : v));
}

/* Output feature i of the block from its accumulator `acc` (the bias not yet added). */
static inline __attribute__((always_inline)) int8_t efm_sfc_out(const efm_sfc_req *r, int32_t i, int32_t acc,
                                                                int kind) {
    if (kind != 0) {
        return efm_sfc_out_any(r, i, acc, kind);
    }
    const int32_t *q = r->q + 4 * i;
    return (int8_t)efm_ssat8(efm_smmla(acc + q[0], q[1], q[2]) >> q[3]);
}

/* The same from the low / high int16 lane of an accumulator pair. */
static inline __attribute__((always_inline)) int8_t efm_sfc_out_lo(const efm_sfc_req *r, int32_t i, uint32_t pair,
                                                                   int kind) {
    if (kind != 0) {
        return efm_sfc_out_any(r, i, efm_sxtah_lo(0, pair), kind);
    }
    const int32_t *q = r->q + 4 * i;
    return (int8_t)efm_ssat8(efm_smmla(efm_sxtah_lo(q[0], pair), q[1], q[2]) >> q[3]);
}

static inline __attribute__((always_inline)) int8_t efm_sfc_out_hi(const efm_sfc_req *r, int32_t i, uint32_t pair,
                                                                   int kind) {
    return efm_sfc_out(r, i, (int32_t)pair >> 16, kind);
}

#define EFM_SFC_REQ1(ACC)                                                                                       \
    "ldm %[q]!, {%[b], %[m], %[r], %[s]}\n\t" ACC "smmla %[b], %[b], %[m], %[r]\n\t"                                \
    "asr %[b], %[b], %[s]\n\t"                                                                                   \
    "ssat %[b], #8, %[b]\n\t"                                                                                    \
    "strb %[b], [%[y]], #1\n\t"

/* Requantization without activation (kind 0) of `words` words of int16 lane pairs (4 outputs each, in the order
 * of efm_sfc_acc16) with their requant32 entries q: per output one LDM of {bias, M, round, rshift}, the lane plus
 * the bias (SXTAH or ADD ... ASR #16), SMMLA, ASR, SSAT and STRB. The LDM registers are pinned in ascending order. */
static inline __attribute__((always_inline)) void efm_sfc_req0(const int32_t *q, const uint32_t *pk, int8_t *y,
                                                               int32_t words) {
    register int32_t b __asm__("r4");
    register int32_t m __asm__("r5");
    register int32_t r __asm__("r6");
    register int32_t s __asm__("r7");
    uint32_t ev, od;
    __asm__ volatile("1:\n\t"
                     "ldrd %[ev], %[od], [%[pk]], #8\n\t"
                     EFM_SFC_REQ1("sxtah %[b], %[b], %[ev]\n\t")
                     EFM_SFC_REQ1("sxtah %[b], %[b], %[od]\n\t")
                     EFM_SFC_REQ1("add %[b], %[b], %[ev], asr #16\n\t")
                     EFM_SFC_REQ1("add %[b], %[b], %[od], asr #16\n\t")
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [b] "=&r"(b), [m] "=&r"(m), [r] "=&r"(r), [s] "=&r"(s), [ev] "=&r"(ev), [od] "=&r"(od),
                       [q] "+r"(q), [pk] "+r"(pk), [y] "+r"(y), [n] "+r"(words)
                     :
                     : "cc", "memory");
}

/* efm_sfc_req0 of four words (16 outputs), straight-line. */
static inline __attribute__((always_inline)) void efm_sfc_req0_16(const int32_t *q, const uint32_t *pk, int8_t *y) {
    register int32_t b __asm__("r4");
    register int32_t m __asm__("r5");
    register int32_t r __asm__("r6");
    register int32_t s __asm__("r7");
    uint32_t ev, od;
#define EFM_SFC_REQ_WORD                                                                                        \
    "ldrd %[ev], %[od], [%[pk]], #8\n\t" EFM_SFC_REQ1("sxtah %[b], %[b], %[ev]\n\t")                               \
        EFM_SFC_REQ1("sxtah %[b], %[b], %[od]\n\t") EFM_SFC_REQ1("add %[b], %[b], %[ev], asr #16\n\t")             \
            EFM_SFC_REQ1("add %[b], %[b], %[od], asr #16\n\t")
    __asm__ volatile(EFM_SFC_REQ_WORD EFM_SFC_REQ_WORD EFM_SFC_REQ_WORD EFM_SFC_REQ_WORD
                     : [b] "=&r"(b), [m] "=&r"(m), [r] "=&r"(r), [s] "=&r"(s), [ev] "=&r"(ev), [od] "=&r"(od),
                       [q] "+r"(q), [pk] "+r"(pk), [y] "+r"(y)
                     :
                     : "memory");
#undef EFM_SFC_REQ_WORD
}

/* Sums of one block of 16 columns (as efm_sfc_acc16) requantized without activation (as efm_sfc_req0). */
__attribute__((noinline)) static void efm_sfc_acc16_nc(const int32_t *list, const int8_t *base, uint32_t pk[8]) {
    efm_sfc_acc16(list, base, pk);
}

__attribute__((noinline)) static void efm_sfc_req0_nc(const int32_t *q, const uint32_t *pk, int8_t *y,
                                                      int32_t words) {
    efm_sfc_req0(q, pk, y, words);
}

/* One output of the fused block below: the requant32 entry {bias, M, round, rshift} by LDM (q in %[b]), the lane
 * plus the bias, SMMLA, ASR, SSAT, the byte stored (y in %[a7]). */
#define EFM_SFC_OUT(LANE)                                                                                       \
    "ldm %[b]!, {r4, r5, r6, r7}\n\t" LANE "smmla r4, r4, r5, r6\n\t"                                              \
    "asr r4, r4, r7\n\t"                                                                                         \
    "ssat r4, #8, r4\n\t"                                                                                        \
    "strb r4, [%[a7]], #1\n\t"
#define EFM_SFC_OUT4(EV, OD)                                                                                    \
    EFM_SFC_OUT("sxtah r4, r4, %[" EV "]\n\t") EFM_SFC_OUT("sxtah r4, r4, %[" OD "]\n\t")                          \
        EFM_SFC_OUT("add r4, r4, %[" EV "], asr #16\n\t") EFM_SFC_OUT("add r4, r4, %[" OD "], asr #16\n\t")

/* The `count` (<= width) outputs of a block of `width` output features from its int16 lane pairs (see
 * efm_sfc_acc16); r describes the block's first output feature. */
static inline __attribute__((always_inline)) void efm_sfc_out_packed(const efm_sfc_req *r, const uint32_t *pk,
                                                                     int32_t count, int8_t *y, int kind) {
    int32_t i = 0;
    if (kind == 0 && count >= 4) {
        i = count & ~3;
        efm_sfc_req0_nc(r->q, pk, y, count >> 2);
        pk += i >> 1;
    }
    for (; i + 4 <= count; i += 4, pk += 2) {
        const uint32_t ev = pk[0], od = pk[1];
        y[i] = efm_sfc_out_lo(r, i, ev, kind);
        y[i + 1] = efm_sfc_out_lo(r, i + 1, od, kind);
        y[i + 2] = efm_sfc_out_hi(r, i + 2, ev, kind);
        y[i + 3] = efm_sfc_out_hi(r, i + 3, od, kind);
    }
    if (i < count) { /* the last, partial word */
        const int32_t v[4] = {efm_sxtah_lo(0, pk[0]), efm_sxtah_lo(0, pk[1]), (int32_t)pk[0] >> 16,
                              (int32_t)pk[1] >> 16};
        for (int32_t j = 0; i + j < count; j++) {
            y[i + j] = efm_sfc_out(r, i + j, v[j], kind);
        }
    }
}

/* Sums over the active inputs of columns cb .. cb + width - 1 as int16 lane pairs (width 16, 8 or 4). */
static inline void efm_sfc_acc(const int32_t *list, const int8_t *w, int32_t cb, int32_t width, uint32_t *pk) {
    if (width == 16) {
        efm_sfc_acc16_nc(list, w + cb, pk);
    } else if (width == 8) {
        efm_sfc_acc8(list, w + cb, pk);
    } else {
        efm_sfc_acc4(list, w + cb, pk);
    }
}

/* Every row; inlined once per requantization kind. */
static inline __attribute__((always_inline)) void efm_sfc_rows(const efm_spike_fully_connected_params *p,
                                                               const uint8_t *spikes, const int8_t *w,
                                                               const int32_t *bias, int8_t *y, int32_t *list,
                                                               int kind) {
    const int32_t depth = p->depth, cols = p->cols, cp = p->cols_pad, rows = p->rows;
    for (int32_t row = 0; row < rows; row++, spikes += depth, y += cols) {
        int32_t n = efm_sfc_list(spikes, depth, cp, list + 1);
        if (n == 0) { /* no spike: the zero row (the accumulation starts from a first row), the sums are 0 */
            list[1] = 8 * depth * cp;
            n = 1;
        }
        list[0] = n;
        list[n + 1] = -1;
        int32_t cb = 0;
        while (cb < cols) {
            const int32_t width = cp - cb >= 16 ? 16 : (cp - cb >= 8 ? 8 : 4);
            const int32_t count = cols - cb < width ? cols - cb : width;
            const efm_sfc_req r = {p->requant32 ? p->requant32 + 4 * cb : NULL, p->mult ? p->mult + cb : NULL,
                                   p->shift ? p->shift + cb : NULL, bias ? bias + cb : NULL, p->output_zp,
                                   p->act_min, p->act_max};
            uint32_t pk[8];
            if (n <= EFM_SFC_PASS) {
                efm_sfc_acc(list, w, cb, width, pk);
                efm_sfc_out_packed(&r, pk, count, y + cb, kind);
            } else { /* passes of EFM_SFC_PASS active inputs, added in int32 */
                int32_t tot[16] = {0};
                for (int32_t s = 0; s < n; s += EFM_SFC_PASS) { /* list + s: this pass's count, offsets */
                    const int32_t e = s + EFM_SFC_PASS < n ? s + EFM_SFC_PASS : n;
                    const int32_t keep_n = list[s], keep_end = list[e + 1];
                    list[s] = e - s;
                    list[e + 1] = -1;
                    efm_sfc_acc(list + s, w, cb, width, pk);
                    list[s] = keep_n;
                    list[e + 1] = keep_end;
                    for (int32_t j = 0; j < (width >> 2); j++) {
                        tot[4 * j] = efm_sxtah_lo(tot[4 * j], pk[2 * j]);
                        tot[4 * j + 1] = efm_sxtah_lo(tot[4 * j + 1], pk[2 * j + 1]);
                        tot[4 * j + 2] = efm_sxtah_hi(tot[4 * j + 2], pk[2 * j]);
                        tot[4 * j + 3] = efm_sxtah_hi(tot[4 * j + 3], pk[2 * j + 1]);
                    }
                }
                for (int32_t i = 0; i < count; i++) {
                    y[cb + i] = efm_sfc_out(&r, i, tot[i], kind);
                }
            }
            cb += width;
        }
    }
}

/* The requantization forms with an activation range or in 64 bits (kind 1 or 2, chosen per output). */
__attribute__((noinline)) static void efm_sfc_rows_any(const efm_spike_fully_connected_params *p,
                                                       const uint8_t *spikes, const int8_t *w, const int32_t *bias,
                                                       int8_t *y, int32_t *list, int kind) {
    efm_sfc_rows(p, spikes, w, bias, y, list, kind);
}

/* Every row without activation (kind 0), at least 16 output features and inputs. Per row the scan into the list,
 * then the whole blocks of 16 output features in one asm statement: per block the sums (as efm_sfc_acc16, the
 * offsets read in pairs; the row offset, weights and list pointer in r4-r7) and, from the registers, the
 * requantization (as efm_sfc_req0: LDM into r4-r7; q takes the base's register, y the last accumulator's, which
 * waits on the stack until the first accumulator's outputs are done); the block loop's state (list, q, y, end,
 * base) lives on the stack. The last columns (cols_pad % 16) as efm_sfc_rows; a row with more than EFM_SFC_PASS
 * spikes goes through efm_sfc_rows. */
__attribute__((noinline)) static void efm_sfc_rows0(const efm_spike_fully_connected_params *p, const uint8_t *spikes,
                                                    const int8_t *w, const int32_t *bias, int8_t *y, int32_t *list) {
    const int32_t depth = p->depth, cols = p->cols, cp = p->cols_pad, groups = depth >> 4, blocks = cols >> 4;
    const int32_t *q0 = p->requant32;
    struct { /* pairs read or written by one LDRD / STRD: (q, y), (end, base), (base, a7) */
        const int32_t *list, *q;
        int8_t *y;
        const int8_t *end, *base;
        uint32_t a7;
    } __attribute__((aligned(8))) st = {list, q0, y, w + 16 * blocks, w, 0};
    for (int32_t row = 0; row < p->rows; row++, spikes += depth, y += cols) {
        int32_t *l = efm_sfc_list16(spikes, groups, cp, list + 1);
        if (depth & 15) { /* the last depth % 16 inputs, their offsets from the tail's start */
            const int32_t k0 = depth & ~15, nt = efm_sfc_list(spikes + k0, depth & 15, cp, l);
            for (int32_t i = 0; i < nt; i++) {
                l[i] += 8 * k0 * cp;
            }
            l += nt;
        }
        if (l == list + 1) { /* no spike: the zero row */
            *l++ = 8 * depth * cp;
        }
        const int32_t n = (int32_t)(l - list) - 1;
        if (n > EFM_SFC_PASS) {
            efm_spike_fully_connected_params one = *p;
            one.rows = 1;
            efm_sfc_rows_any(&one, spikes, w, bias, y, list, 0);
            st.y = y + cols;
            continue;
        }
        list[0] = n;
        *l = -1;
        {
            register uint32_t w0 __asm__("r4");
            register uint32_t w1 __asm__("r5");
            register int32_t o __asm__("r6");
            register const int32_t *lp __asm__("r7");
            int32_t o2;
            uint32_t a0, a1, a2, a3, a4, a5, a6, a7;
            const void *bq = w; /* st.base is written before it is read; st.y follows from the last row */
            st.q = q0;
            __asm__ volatile("5:\n\t"
                             "ldr %[l], %[sl]\n\t"
                             EFM_SFC_LOOP2
                             "strd %[b], %[a7], %[sb]\n\t"
                             "ldrd %[b], %[a7], %[sq]\n\t"
                             EFM_SFC_OUT4("a0", "a1") EFM_SFC_OUT4("a2", "a3") EFM_SFC_OUT4("a4", "a5")
                             "ldr %[a0], %[s7]\n\t"
                             EFM_SFC_OUT4("a6", "a0")
                             "strd %[b], %[a7], %[sq]\n\t"
                             "ldrd %[a0], %[b], %[se]\n\t"
                             "add %[b], %[b], #16\n\t"
                             "cmp %[b], %[a0]\n\t"
                             "bne 5b\n\t"
                             : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
                               [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [w0] "=&r"(w0), [w1] "=&r"(w1),
                               [o] "=&r"(o), [p] "=&r"(o2), [l] "=&r"(lp), [b] "+r"(bq), [s7] "+m"(st.a7),
                               [sq] "+m"(st.q), [sy] "+m"(st.y), [sb] "+m"(st.base), [se] "+m"(st.end)
                             : [sl] "m"(st.list)
                             : "cc", "memory");
        }
        for (int32_t cb = 16 * blocks; cb < cols;) { /* the last columns: 8, then 4 */
            const int32_t width = cp - cb >= 8 ? 8 : 4;
            const int32_t count = cols - cb < width ? cols - cb : width;
            const efm_sfc_req r = {q0 + 4 * cb, NULL, NULL, NULL, p->output_zp, p->act_min, p->act_max};
            uint32_t pk[4];
            efm_sfc_acc(list, w, cb, width, pk);
            efm_sfc_out_packed(&r, pk, count, y + cb, 0);
            cb += width;
            st.y = y + cols;
        }
    }
}

/* One output feature whose weights are all p->arm_count: per row, that weight times the number of nonzero spike
 * bytes (each byte reduced to its bit 0, four summed by one USADA8), requantized as the other paths. */
__attribute__((noinline)) static void efm_sfc_count(const efm_spike_fully_connected_params *p, const uint8_t *spikes,
                                                    const int32_t *bias, int8_t *y) {
    const int32_t depth = p->depth, words = depth >> 2;
    const int kind = p->requant32 == NULL ? 2 : (p->act_min == -128 && p->act_max == 127 ? 0 : 1);
    const efm_sfc_req r = {p->requant32, p->mult, p->shift, bias, p->output_zp, p->act_min, p->act_max};
    for (int32_t row = 0; row < p->rows; row++, spikes += depth) {
        uint32_t n = 0;
        for (int32_t k = 0; k < words; k++) {
            uint32_t v = efm_load4(spikes + 4 * k);
            v |= v >> 4;
            v |= v >> 2;
            v |= v >> 1;
            n = efm_usada8(v & 0x01010101u, 0, n);
        }
        for (int32_t k = 4 * words; k < depth; k++) {
            n += spikes[k] != 0;
        }
        y[row] = efm_sfc_out(&r, 0, (int32_t)n * p->arm_count, kind);
    }
}

void efm_spike_fully_connected(const efm_spike_fully_connected_params *p, const uint8_t *spikes, const int8_t *w,
                               const int32_t *bias, int8_t *y, void *scratch) {
    int32_t *list = (int32_t *)scratch;
    if (p->arm_count != 0) {
        efm_sfc_count(p, spikes, bias, y);
        return;
    }
    if (p->requant32 != NULL && p->act_min == -128 && p->act_max == 127) {
        if (p->cols >= 16 && p->depth >= 16) {
            efm_sfc_rows0(p, spikes, w, bias, y, list);
        } else {
            efm_sfc_rows_any(p, spikes, w, bias, y, list, 0);
        }
    } else {
        efm_sfc_rows_any(p, spikes, w, bias, y, list, p->requant32 == NULL ? 2 : 1);
    }
}

#endif
