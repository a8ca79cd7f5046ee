/* The time-multiplexed engine (docs/fpga.md, "Shared engine"): one PE x SIMD MAC array and one requantization unit
 * shared by every matrix layer of the model (FULLY_CONNECTED, SPIKE_FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D,
 * BATCH_MATMUL), driven by a layer table; activations live in one planned on-chip buffer (the arena, byte
 * offsets from edgefmr.firmware.planner), weights in one memory of PE x SIMD-byte words (block RAM, or DDR through
 * the AXI master port).
 *
 * Every matrix layer is "for each of `vectors` input vectors, cols outputs, each a depth-long dot product":
 *   FC:      x[v][k], weights [cols][depth]
 *   CONV_2D: v = (n, oy, ox), k = (ky, kx, ic) of the flattened filter, padding taps contribute nothing
 *   DW:      v = (n, oy, ox), k = (ky, kx), input channel c / depth_multiplier (weights stored [c][k])
 *   BMM:     v = (batch, row), the right operand read from the arena (its zero point removed) as w[c][k]
 * The array runs ceil(cols / PE) neuron folds of ceil(depth / SIMD) beats per vector (lanes past cols or depth
 * are idle); each fold's PE accumulators go through the one requantization unit: LiteRT's single rounding (FC,
 * SPIKE_FC) or double rounding (CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL), the op's arithmetic bit for bit.
 * Cycles per layer: vectors x ceil(cols / PE) x (ceil(depth / SIMD) + PE) + the pipeline depth.
 */
#ifndef EFM_HLS_ENGINE_H
#define EFM_HLS_ENGINE_H

#include "efm_hls.h"
#include "layer_norm_chain.h"
#include "softmax.h"

namespace efm {

enum { ENG_FC = 0, ENG_CONV = 1, ENG_DW = 2, ENG_BMM = 3 };

/* One row of the layer table (every field a run-time value: the hardware reads it from a ROM). */
struct engine_layer {
    int32_t kind, spike, single_round, per_channel;
    int32_t x_off, r_off, y_off;  // arena byte offsets of the input, the right operand (BMM) and the output
    int32_t w_off, b_off, q_off;  // first weight byte, first bias, first multiplier / shift
    int32_t vectors, cols, depth;
    int32_t in_h, in_w, in_c, out_h, out_w, k_w, k_c, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t out_per_group, depth_multiplier;
    int32_t rows, bcount1, bcount2, lbs0, lbs1, lbs2, rbs0, rbs1, rbs2, lrow, ldep, rdep, rcol;
    int32_t x_zp, r_zp, y_zp, act_min, act_max;
};

/* Arena <-> stream (the non-matrix layers run their own kernels between these). */
template <class T, int N>
void arena_to_stream(const uint8_t *arena, int32_t off, hls::stream<T> &out) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        T v;
        std::memcpy(&v, arena + off + i * (int)sizeof(T), sizeof(T));
        out.write(v);
    }
}

template <class T, int N>
void stream_to_arena(hls::stream<T> &in, uint8_t *arena, int32_t off) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        const T v = in.read();
        std::memcpy(arena + off + i * (int)sizeof(T), &v, sizeof(T));
    }
}

/* TRANSPOSE / STRIDED_SLICE inside the arena: output element i = input element at the strided view's offset
 * (strided_view.h's view, read from the arena instead of a stored copy). Cycles: out_size. */
template <class P, class T>
void arena_view(uint8_t *arena, int32_t in_off, int32_t out_off) {
    if (P::out_size == 0) {
        return;
    }
    odometer<P::ndim> o;
    o.pos = P::start;
    int32_t i = 0;
view:
    do {
#pragma HLS PIPELINE II = 1
        T v;
        std::memcpy(&v, arena + in_off + o.pos * (int)sizeof(T), sizeof(T));
        std::memcpy(arena + out_off + i * (int)sizeof(T), &v, sizeof(T));
        i++;
    } while (o.next(P::count, P::stride));
}

/* The activation operand of tap k of vector v (zero point removed; 0 for a padding tap). */
inline int32_t engine_x(const engine_layer &L, const uint8_t *arena, int32_t v, int32_t c, int32_t k) {
    int32_t addr;
    if (L.kind == ENG_FC) {
        addr = v * L.depth + k;
    } else if (L.kind == ENG_BMM) {
        const int32_t r = v % L.rows, b = v / L.rows;
        const int32_t b2 = b % L.bcount2, b1 = (b / L.bcount2) % L.bcount1, b0 = b / (L.bcount2 * L.bcount1);
        addr = b0 * L.lbs0 + b1 * L.lbs1 + b2 * L.lbs2 + r * L.lrow + k * L.ldep;
    } else {
        const int32_t ox = v % L.out_w, oy = (v / L.out_w) % L.out_h, n = v / (L.out_w * L.out_h);
        int32_t ky, kx, ic;
        if (L.kind == ENG_CONV) {
            ky = k / (L.k_w * L.k_c);
            kx = (k / L.k_c) % L.k_w;
            ic = (c / L.out_per_group) * L.k_c + k % L.k_c;
        } else {
            ky = k / L.k_w;
            kx = k % L.k_w;
            ic = c / L.depth_multiplier;
        }
        const int32_t iy = oy * L.stride_h - L.pad_top + ky * L.dil_h;
        const int32_t ix = ox * L.stride_w - L.pad_left + kx * L.dil_w;
        if (iy < 0 || iy >= L.in_h || ix < 0 || ix >= L.in_w) {
            return 0;
        }
        addr = ((n * L.in_h + iy) * L.in_w + ix) * L.in_c + ic;
    }
    const uint8_t raw = arena[L.x_off + addr];
    if (L.spike) {
        return raw != 0 ? 1 : 0;
    }
    return (int32_t)(int8_t)raw - L.x_zp;
}

/* The BATCH_MATMUL's right operand (column c, tap k of vector v) from the arena, its zero point removed. */
inline int32_t engine_rhs(const engine_layer &L, const uint8_t *arena, int32_t v, int32_t c, int32_t k) {
    const int32_t b = v / L.rows;
    const int32_t b2 = b % L.bcount2, b1 = (b / L.bcount2) % L.bcount1, b0 = b / (L.bcount2 * L.bcount1);
    const int32_t addr = b0 * L.rbs0 + b1 * L.rbs1 + b2 * L.rbs2 + k * L.rdep + c * L.rcol;
    return (int32_t)(int8_t)arena[L.r_off + addr] - L.r_zp;
}

/* One matrix layer on the PE x SIMD array; ACC_W bits hold any layer's exact sum. The weights are packed in fold
 * order, one PE x SIMD-byte word per beat: word (nf, sf) of a layer holds w[nf PE + p][sf SIMD + s] at byte
 * p SIMD + s (zero past cols or depth), so a beat reads one word. WBUF > 0 (weights in DDR): the layer's words are
 * first read in one burst into an on-chip buffer of WBUF bytes (the largest layer's). */
template <int PE, int SIMD, int ACC_W, int WBUF>
void engine_mac(const engine_layer &L, uint8_t *arena, const int8_t *wmem, const int32_t *bias, const int32_t *mult,
                const int32_t *shift) {
#pragma HLS INLINE off
    typedef typename acc<ACC_W>::type acc_t;
    static int8_t wbuf[WBUF > 0 ? WBUF : 1];
#pragma HLS ARRAY_RESHAPE variable = wbuf cyclic factor = PE * SIMD
    engine_layer Lw = L;
    const int32_t nf_count = (L.cols + PE - 1) / PE, sf_count = (L.depth + SIMD - 1) / SIMD;
    if (WBUF > 0 && L.kind != ENG_BMM) {
    burst:
        for (int32_t i = 0; i < nf_count * sf_count * PE * SIMD; i++) {
#pragma HLS PIPELINE II = 1
            wbuf[i] = wmem[L.w_off + i];
        }
        wmem = wbuf;
        Lw.w_off = 0;
    }
    acc_t accs[PE];
#pragma HLS ARRAY_PARTITION variable = accs complete
vectors:
    for (int32_t v = 0; v < L.vectors; v++) {
    folds:
        for (int32_t nf = 0; nf < nf_count; nf++) {
        beats:
            for (int32_t sf = 0; sf < sf_count; sf++) {
#pragma HLS PIPELINE II = 1
                for (int p = 0; p < PE; p++) {
#pragma HLS UNROLL
                    const int32_t c = nf * PE + p;
                    acc_t a = sf == 0 ? acc_t(0) : accs[p];
                    for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
                        const int32_t k = sf * SIMD + s;
                        if (c < L.cols && k < L.depth) {
                            const int32_t w = L.kind == ENG_BMM ? engine_rhs(L, arena, v, c, k)
                                : (int32_t)wmem[Lw.w_off + ((nf * sf_count + sf) * PE + p) * SIMD + s];
                            a += engine_x(L, arena, v, c, k) * w;
                        }
                    }
                    accs[p] = a;
                }
            }
        requant:
            for (int p = 0; p < PE; p++) {
#pragma HLS PIPELINE II = 1
                const int32_t c = nf * PE + p;
                if (c < L.cols) {
                    const int32_t q = L.q_off + (L.per_channel ? c : 0);
                    const int64_t a = (int64_t)accs[p] + bias[L.b_off + (L.kind == ENG_BMM ? 0 : c)];
                    const int64_t r = L.single_round ? mbqm_single(a, mult[q], shift[q]) : mbqm_double(a, mult[q], shift[q]);
                    const int64_t y = clamp64(r + L.y_zp, L.act_min, L.act_max);
                    arena[L.y_off + v * L.cols + c] = (uint8_t)(int8_t)y;
                }
            }
        }
    }
}

/* ---- The shared elementwise unit: ADD, SUB, MUL, SQUARED_DIFFERENCE of int8 tensors (binary.h's loop and the
 * ops' arithmetic, add.h / sub.h / mul.h / squared_difference.h, with run-time parameters), one requantization unit
 * time-shared by an element's stages. An operand is read from the arena or, when it is a constant, from the
 * engine's constant memory. Cycles: requants x out_size. */
enum { ELT_ADD = 0, ELT_SUB = 1, ELT_MUL = 2, ELT_SQD = 3 };
enum { ELT_MAX_DIMS = 6 };

struct engine_binary_row {
    int32_t op, a_const, b_const, a_off, b_off, y_off, out_size, ndim;
    int32_t count[ELT_MAX_DIMS], stride_a[ELT_MAX_DIMS], stride_b[ELT_MAX_DIMS];
    int32_t a_zp, b_zp, output_zp, left_shift, a_mult, a_shift, b_mult, b_shift, out_mult, out_shift, act_min,
        act_max;
};

inline int64_t engine_binary_apply(const engine_binary_row &E, int32_t av, int32_t bv) {
    if (E.op == ELT_MUL) {
        return mbqm_double((int64_t)(av - E.a_zp) * (int64_t)(bv - E.b_zp), E.out_mult, E.out_shift);
    }
    const int64_t x = mbqm_double((int64_t)(av - E.a_zp) * ((int64_t)1 << E.left_shift), E.a_mult, E.a_shift);
    const int64_t z = mbqm_double((int64_t)(bv - E.b_zp) * ((int64_t)1 << E.left_shift), E.b_mult, E.b_shift);
    if (E.op == ELT_ADD) {
        return mbqm_double(x + z, E.out_mult, E.out_shift);
    }
    if (E.op == ELT_SUB) {
        return mbqm_double(x - z, E.out_mult, E.out_shift);
    }
    return mbqm_double((x - z) * (x - z), E.out_mult, E.out_shift);
}

inline int32_t engine_byte(const uint8_t *arena, const int8_t *consts, int32_t is_const, int32_t addr) {
    return is_const ? (int32_t)consts[addr] : (int32_t)(int8_t)arena[addr];
}

inline void engine_binary(const engine_binary_row &E, uint8_t *arena, const int8_t *consts) {
#pragma HLS INLINE off
    int32_t idx[ELT_MAX_DIMS];
    for (int d = 0; d < ELT_MAX_DIMS; d++) {
        idx[d] = 0;
    }
    int32_t ia = 0, ib = 0;
elements:
    for (int32_t i = 0; i < E.out_size; i++) {
#pragma HLS PIPELINE II = 3
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
        const int32_t av = engine_byte(arena, consts, E.a_const, E.a_off + ia);
        const int32_t bv = engine_byte(arena, consts, E.b_const, E.b_off + ib);
        const int64_t acc = wrap32(engine_binary_apply(E, av, bv));
        arena[E.y_off + i] = (uint8_t)(int8_t)clamp64(wrap32(acc + E.output_zp), E.act_min, E.act_max);
        for (int d = E.ndim - 1; d >= 0; d--) {
            idx[d]++;
            ia += E.stride_a[d];
            ib += E.stride_b[d];
            if (idx[d] < E.count[d]) {
                break;
            }
            ia -= E.stride_a[d] * E.count[d];
            ib -= E.stride_b[d] * E.count[d];
            idx[d] = 0;
        }
    }
}

/* ---- The shared LayerNorm-chain unit: LAYER_NORM_CHAIN and ADD_LAYER_NORM_CHAIN (layer_norm_chain.h's stages,
 * run-time parameters; gamma, beta and the RSQRT(ADD(v, eps)) tables in the engine's constant memory). One
 * requantization unit for every stage of every chain. MAXCH: the widest row. */
struct engine_lnc_row {
    int32_t residual_form, b_const, a_off, b_off, s_off, y_off, rows, channels, square_form, gamma_form;
    int32_t gamma_count, beta_count, gamma_off, beta_off, rsqrt_off;
    int32_t mean[4], centered[9], square[9], variance[4], normalized[9], scaled[9], shifted[9], residual[9];
};

template <int MAXCH>
void engine_lnc(const engine_lnc_row &R, uint8_t *arena, const int8_t *consts) {
#pragma HLS INLINE off
    int8_t row[MAXCH];
    for (int32_t r = 0; r < R.rows; r++) {
        int64_t total = 0;
    load:
        for (int32_t i = 0; i < R.channels; i++) {
#pragma HLS PIPELINE II = 3
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
            const int32_t e = r * R.channels + i;
            int8_t v = (int8_t)arena[R.a_off + e];
            if (R.residual_form) {
                v = (int8_t)lnc_add_sub(R.residual, v, engine_byte(arena, consts, R.b_const, R.b_off + e), 1);
                if (R.s_off >= 0) {
                    arena[R.s_off + e] = (uint8_t)v;
                }
            }
            row[i] = v;
            total += v;
        }
        const int32_t m = lnc_mean(R.mean, total, R.channels);
        int64_t squares = 0;
    variance:
        for (int32_t i = 0; i < R.channels; i++) {
#pragma HLS PIPELINE II = 4
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
            if (R.square_form == 0) {
                squares += lnc_squared_difference(R.square, row[i], m);
            } else {
                const int32_t c = lnc_add_sub(R.centered, row[i], m, -1);
                squares += lnc_mul(R.square, c, c);
            }
        }
        const int32_t v = lnc_mean(R.variance, squares, R.channels);
        const int32_t rs = consts[R.rsqrt_off + v + 128];
    normalize:
        for (int32_t i = 0; i < R.channels; i++) {
#pragma HLS PIPELINE II = 8
#pragma HLS ALLOCATION function instances = mbqm_double limit = 1
            const int32_t c = lnc_add_sub(R.centered, row[i], m, -1);
            const int32_t gi = R.gamma_off + (R.gamma_count == 1 ? 0 : i);
            int32_t n;
            if (R.gamma_form) {
                n = lnc_mul(R.normalized, c, lnc_mul(R.scaled, rs, consts[gi]));
            } else {
                n = lnc_mul(R.normalized, c, rs);
                if (R.gamma_count) {
                    n = lnc_mul(R.scaled, n, consts[gi]);
                }
            }
            if (R.beta_count) {
                n = lnc_add_sub(R.shifted, n, consts[R.beta_off + (R.beta_count == 1 ? 0 : i)], 1);
            }
            arena[R.y_off + r * R.channels + i] = (uint8_t)(int8_t)n;
        }
    }
}

/* ---- The shared softmax unit: SOFTMAX and CLIPPED_SOFTMAX of int8 rows (softmax.h's online form with run-time
 * parameters: each layer's exp table and row-sum terms in the int32 table memory, its post table in the constant
 * memory). LANES: the most normalizer terms per cycle of any layer (the sum is the same integers, regrouped). */
struct engine_softmax_row {
    int32_t x_off, y_off, rows, depth, window, exp_off, terms_off, has_post, post_off;
};

template <int LANES, int MAXDEPTH, int ACC_INT_BITS>
void engine_softmax(const engine_softmax_row &R, uint8_t *arena, const int32_t *tables, const int8_t *consts) {
#pragma HLS INLINE off
    int8_t row[MAXDEPTH];
    uint32_t cnt[256];
    uint32_t tag[256];
#pragma HLS DEPENDENCE variable = cnt inter false
#pragma HLS ARRAY_PARTITION variable = cnt cyclic factor = LANES
#pragma HLS ARRAY_PARTITION variable = tag cyclic factor = LANES
init:
    for (int v = 0; v < 256; v++) {
#pragma HLS PIPELINE II = 1
        tag[v] = 0;
    }
rows:
    for (uint32_t r = 1; r <= (uint32_t)R.rows; r++) {
        const int32_t base = (int32_t)(r - 1) * R.depth;
        int32_t m = -128;
        int32_t prev = -1;
        uint32_t prev_cnt = 0;
    pass:
        for (int32_t i = 0; i < R.depth; i++) {
#pragma HLS PIPELINE II = 1
            const int8_t v = (int8_t)arena[R.x_off + base + i];
            row[i] = v;
            m = v > m ? v : m;
            const int32_t k = (int32_t)v + 128;
            const uint32_t c = (k == prev ? prev_cnt : (tag[k] == r ? cnt[k] : 0u)) + 1u;
            cnt[k] = c;
            tag[k] = r;
            prev = k;
            prev_cnt = c;
        }
        int64_t sum = 0;
    normalizer:
        for (int32_t j0 = 0; j0 < R.window; j0 += LANES) {
#pragma HLS PIPELINE II = 1
            for (int l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                const int32_t j = j0 + l;
                const int32_t k = m - j + 128;
                if (j < R.window && k >= 0 && tag[k] == r) {
                    sum += (int64_t)cnt[k] * tables[R.terms_off + j];
                }
            }
        }
        const int32_t sum32 = wrap32(sum);
        const int32_t headroom_plus_one = clz32((uint32_t)sum32);
        const int32_t num_bits_over_unit = ACC_INT_BITS - headroom_plus_one;
        const int32_t shifted_minus_one =
            wrap32((int64_t)(((uint64_t)(uint32_t)sum32 << headroom_plus_one) & 0xFFFFFFFFull) - ((int64_t)1 << 31));
        const int64_t shifted_scale = one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
    out:
        for (int32_t i = 0; i < R.depth; i++) {
#pragma HLS PIPELINE II = 1
            const int64_t o =
                rdbpot(srdhm(shifted_scale, tables[R.exp_off + (int32_t)row[i] - m + 255]), exponent) - 128;
            const int8_t q = (int8_t)clamp64(o, -128, 127);
            arena[R.y_off + base + i] = (uint8_t)(R.has_post ? consts[R.post_off + (int32_t)q + 128] : q);
        }
    }
}

}  // namespace efm

#endif
