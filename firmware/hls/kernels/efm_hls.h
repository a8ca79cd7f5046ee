/* Shared part of the edgefmr HLS kernels: integer types, TFLite's fixed-point helpers, stream helpers.
 *
 * Every kernel is a function template over a generated configuration struct P (static constexpr sizes,
 * zero points, multipliers and small tables, all computed once at generation time in Python with
 * edgefmr.ops.fixedpoint, exactly as for the C backend). Data inputs and outputs are hls::stream of the tensor's
 * element type in row-major order; constant operands (weights, biases, tables) are ROM arrays. The arithmetic is
 * that of docs/ops/<OP>.md, bit for bit; #pragma HLS lines are ignored by g++ (C simulation).
 *
 * Accumulators of the multiply-accumulate kernels are ap_int<W> (the open arbitrary-precision headers: Vitis HLS
 * ships them, C simulation takes them from the installed hls4ml package, EFM_AP_TYPES) with W chosen at
 * generation time so that no sum can overflow; without those headers, 32- or 64-bit integers of at least W bits.
 */
#ifndef EFM_HLS_H
#define EFM_HLS_H

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "efm_stream.h"

#if defined(__SYNTHESIS__) || defined(EFM_AP_TYPES)
#include <ap_int.h>
#define EFM_HAVE_AP_INT 1
#endif

namespace efm {

#ifdef EFM_HAVE_AP_INT
template <int W>
struct acc {
    typedef ap_int<W> type;
};
#else
template <int W>
struct acc {
    typedef typename std::conditional<(W <= 32), int32_t, int64_t>::type type;
};
#endif

/* floor(sqrt(n)) of a 32-bit value: the bit-by-bit method, 16 steps. */
inline uint32_t isqrt32(uint32_t n) {
    uint32_t res = 0, bit = 1u << 30;
    for (int i = 0; i < 16; i++) {
#pragma HLS UNROLL
        const uint32_t cand = res + bit;
        if (n >= cand) {
            n -= cand;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

/* floor(sqrt(n)) for 0 <= n < 2^63: the bit-by-bit method, 32 fixed steps (edgefmr.ops.layer_norm.isqrt). */
inline uint64_t isqrt64(uint64_t n) {
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    for (int i = 0; i < 32; i++) {
#pragma HLS PIPELINE II = 1
        const uint64_t cand = res + bit;
        if (n >= cand) {
            n -= cand;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

/* Two's-complement wrap of a 64-bit value to 32 bits. */
inline int32_t wrap32(int64_t x) { return (int32_t)(uint32_t)(uint64_t)x; }

inline int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* round(x * mult * 2^(shift - 31)), one rounding half up (LiteRT's single-rounding requantization). */
inline int64_t mbqm_single(int64_t x, int32_t mult, int32_t shift) {
    const int32_t total = 31 - shift;
    return (x * (int64_t)mult + ((int64_t)1 << (total - 1))) >> total;
}

/* gemmlowp SaturatingRoundingDoublingHighMul on 32-bit values held in 64 bits. */
inline int64_t srdhm(int64_t a, int64_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = a * b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (ab + nudge) / ((int64_t)1 << 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero. */
inline int64_t rdbpot(int64_t x, int32_t e) {
    const int64_t mask = ((int64_t)1 << e) - 1;
    const int64_t remainder = x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* Double-rounding requantization (gemmlowp): the left shift wraps to 32 bits as TFLite's int32 C code does.
 * One hardware unit (INLINE off): a kernel that requantizes k times per element limits it to one instance with
 * `#pragma HLS ALLOCATION function instances = mbqm_double limit = 1` and pipelines its loop at II = k, so the
 * 33 x 32-bit multiplier is time-shared by the layer's stages (docs/fpga.md, requantization). */
inline int64_t mbqm_double(int64_t x, int32_t mult, int32_t shift) {
#pragma HLS INLINE off
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return rdbpot(srdhm(wrap32(x * ((int64_t)1 << left)), mult), right);
}

/* Number of set bits of a byte (an XNOR/popcount building block). */
inline int32_t popcount8(uint8_t v) {
    int32_t n = 0;
    for (int i = 0; i < 8; i++) {
#pragma HLS UNROLL
        n += (v >> i) & 1;
    }
    return n;
}

/* Reads N elements of `in` into `buf` (one per cycle). */
template <class T, int N>
void read_all(hls::stream<T> &in, T buf[N]) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        buf[i] = in.read();
    }
}

/* Streams a constant tensor (a graph constant used where the kernel takes a stream). */
template <class T, int N>
void rom_source(const T rom[N], hls::stream<T> &out) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        out.write(rom[i]);
    }
}

/* Copies N elements (a graph output that is also a graph input, or a RESHAPE). */
template <class T, int N>
void copy(hls::stream<T> &in, hls::stream<T> &out) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        out.write(in.read());
    }
}

/* Memory -> stream and stream -> memory (the AXI-master wrapper of the generated top function). */
template <class T, int N>
void mem_to_stream(const T *mem, hls::stream<T> &out) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        out.write(mem[i]);
    }
}

template <class T, int N>
void stream_to_mem(hls::stream<T> &in, T *mem) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        mem[i] = in.read();
    }
}

/* Consumes N elements nobody uses (a node output that is neither read nor a graph output). */
template <class T, int N>
void drain(hls::stream<T> &in) {
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        (void)in.read();
    }
}

/* Bit pattern -> element (the tables of DEQUANTIZE hold float32 bit patterns). */
template <class T>
inline T from_bits(uint32_t b) {
    return (T)b;
}
template <>
inline float from_bits<float>(uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}

/* An odometer over up to 8 axes with per-axis element strides: the offset of the current element. */
template <int ND>
struct odometer {
    int32_t idx[ND > 0 ? ND : 1];
    int32_t pos;
    odometer() : pos(0) {
        for (int d = 0; d < (ND > 0 ? ND : 1); d++) {
#pragma HLS UNROLL
            idx[d] = 0;
        }
    }
    /* Advance to the next element (last axis fastest); returns false after the last one. */
    bool next(const int32_t *count, const int32_t *stride) {
        for (int d = ND - 1; d >= 0; d--) {
#pragma HLS UNROLL
            idx[d]++;
            pos += stride[d];
            if (idx[d] < count[d]) {
                return true;
            }
            pos -= stride[d] * count[d];
            idx[d] = 0;
        }
        return false;
    }
};

}  // namespace efm

#endif /* EFM_HLS_H */
