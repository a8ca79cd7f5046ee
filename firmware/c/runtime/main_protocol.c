/* Serial protocol firmware: the model behind the edgefmr device protocol (docs/protocol.md) on the board's UART, and
 * the MLPerf Tiny (EEMBC runner) text protocol (mlperf.c) on the same UART.
 *
 * Boot: UART, counter calibration, banner "EFM-PROTO 1 <board> <model hash>", the MLPerf Tiny boot lines, then
 * requests forever. A byte that is not part of a binary frame and is not the frame start (SOF 0xA5, which never
 * occurs in the text commands) goes to the text protocol.
 * Counts: real boards report DWT CYCCNT core cycles. Virtual boards report executed instructions: SysTick counts
 * virtual time, which QEMU's -icount shift=S advances by 2^S ns per instruction; S is measured at boot with a
 * loop of known length, ticks are converted with the exact ratio 1e9 / (clock * 2^S), and the instructions of
 * the SysTick wrap handler (measured at boot too) are taken out. With S large enough that one instruction is
 * more than two ticks (S >= 7 at 25 MHz) the count is exact; otherwise INFO reports its resolution (quantum).
 */
#include <stdint.h>
#include <string.h>

#include "efm_board.h"
#include "efm_runtime.h"
#include "mlperf.h"
#include "model.h"
#include "protocol.h"

#ifndef EFM_FIRMWARE_VERSION
#define EFM_FIRMWARE_VERSION "edgefmr-proto-1"
#endif
/* What `name%` and `profile%` of the MLPerf Tiny protocol report (m-name-dut-[...], m-model-[...]); the model is
 * the graph hash unless EFM_MLPERF_MODEL names it (e.g. "ic01"). */
#ifndef EFM_MLPERF_VENDOR
#define EFM_MLPERF_VENDOR "edgefmr-" EFM_BOARD_NAME
#endif
/* Empty UART polls after which a partial frame is given up (docs/protocol.md, "Silence"). */
#ifndef EFM_PROTO_IDLE_POLLS
#define EFM_PROTO_IDLE_POLLS (1u << 20)
#endif

enum { COUNTER_NONE = 0, COUNTER_DWT_CYCLES = 1, COUNTER_QEMU_INSTRUCTIONS = 2, COUNTER_SYSTICK_CYCLES = 3 };
#define ALL_LAYERS 0xFFFFu
#define RUN_FLAG_PROFILE 1u
#define STACK_FLAG_REPAINT 1u
#define PROFILE_PER_PAGE ((EFM_PROTO_MAX_PAYLOAD - 1u - 9u) / 8u)

static efm_proto proto;
static efm_mlperf mlperf;
static uint64_t prof_sums[EFM_NUM_LAYERS];
static uint32_t prof_runs;
static uint8_t outputs_valid;
static int32_t tensor_layer = -1;

/* ------------------------------------------------------------------------------------------ counting */

static uint64_t cnt_num = 1, cnt_den = 1; /* count = ticks * num / den (rounded) */
static uint32_t cnt_isr = 0;              /* instructions of one SysTick wrap handler (virtual boards) */
static uint32_t cnt_overhead = 0;         /* count of an empty measured region */
static uint16_t cnt_quantum = 1;
static uint8_t cnt_kind = COUNTER_NONE;

static uint64_t ticks_to_count(uint64_t t0, uint64_t t1) {
    const uint64_t d = t1 - t0;
    uint64_t c = (d * cnt_num + cnt_den / 2u) / cnt_den;
    const uint64_t isr = ((t1 >> 24) - (t0 >> 24)) * cnt_isr; /* handler runs once per 2^24 ticks */
    return c > isr ? c - isr : 0u;
}

static uint64_t measured(uint64_t t0, uint64_t t1) {
    const uint64_t c = ticks_to_count(t0, t1);
    return c > cnt_overhead ? c - cnt_overhead : 0u;
}

#if EFM_VIRTUAL_BOARD
/* 2 * n instructions (SUBS + BNE per iteration). */
__attribute__((noinline)) static void spin(uint32_t n) {
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

static uint64_t spin_ticks(uint32_t n, uint64_t *wraps) {
    const uint64_t t0 = efm_counter_read();
    spin(n);
    const uint64_t t1 = efm_counter_read();
    *wraps = (t1 >> 24) - (t0 >> 24);
    return t1 - t0;
}

static uint32_t gcd32(uint32_t a, uint32_t b) {
    while (b) {
        const uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}
#endif

static void counter_setup(void) {
    efm_counter_init();
#if EFM_VIRTUAL_BOARD
    cnt_kind = COUNTER_QEMU_INSTRUCTIONS;
    /* ticks per instruction r = clock * 2^S / 1e9: measure r from two loop lengths (fixed costs cancel). */
    uint64_t w1, w2;
    const uint32_t k1 = 1024u, k2 = 1024u + 65536u; /* difference: 131072 instructions */
    const uint64_t d1 = spin_ticks(k1, &w1), d2 = spin_ticks(k2, &w2);
    const uint64_t dt = d2 > d1 ? d2 - d1 : 1u;
    /* 2^S ~= dt * 1e9 / (clock * 131072) */
    const uint64_t pw = (dt * 1000000000ull / EFM_CORE_CLOCK_HZ + 65536u) / 131072u;
    uint32_t shift = 0;
    while (shift < 20u && (1ull << (shift + 1)) <= pw + (pw >> 1)) {
        shift++;
    }
    const uint32_t g = gcd32(1000000000u, EFM_CORE_CLOCK_HZ);
    cnt_num = 1000000000u / g;
    cnt_den = (uint64_t)(EFM_CORE_CLOCK_HZ / g) << shift;
    /* a difference of two tick readings is off by less than one tick: exact after rounding when one
     * instruction is more than two ticks; otherwise the resolution is about one tick's worth of instructions */
    cnt_quantum = (uint16_t)(cnt_den > 2u * cnt_num ? 1u
                             : cnt_den > cnt_num ? 2u : (cnt_num + cnt_den - 1u) / cnt_den);
    if (cnt_quantum == 1u) {
        /* handler cost: a loop spanning many wraps, against the same loop's exact length */
        const uint32_t k3 = 1024u + (uint32_t)(((uint64_t)8u << 24) * cnt_num / cnt_den / 2u);
        const uint64_t d3 = spin_ticks(k3, &w2);
        const uint64_t c1 = (d1 * cnt_num + cnt_den / 2u) / cnt_den;
        const uint64_t c3 = (d3 * cnt_num + cnt_den / 2u) / cnt_den;
        const uint64_t loop = 2u * (uint64_t)(k3 - k1);
        const uint64_t dw = w2 > w1 ? w2 - w1 : 0u;
        cnt_isr = (dw && c3 >= c1 + loop) ? (uint32_t)((c3 - c1 - loop + dw / 2u) / dw) : 0u;
    }
#else
    cnt_kind = COUNTER_DWT_CYCLES;
#endif
    const uint64_t a = efm_counter_read();
    const uint64_t b = efm_counter_read();
    cnt_overhead = (uint32_t)ticks_to_count(a, b);
#if !EFM_VIRTUAL_BOARD
    if (b == a) {
        cnt_kind = COUNTER_NONE; /* DWT not counting (no debug unit, or locked) */
    }
#endif
}

/* ------------------------------------------------------------------------------------------ commands */

static uint32_t input_crc(void) {
    uint32_t c = 0;
    for (int i = 0; i < EFM_NUM_INPUTS; i++) {
        c = efm_crc32(c, (const uint8_t *)efm_input(i), efm_input_bytes(i));
    }
    return c;
}

static uint8_t *put_str(uint8_t *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    if (n > 255u) {
        n = 255u;
    }
    *p++ = (uint8_t)n;
    memcpy(p, s, n);
    return p + n;
}

static uint32_t cmd_info(uint8_t *out) {
    uint8_t *p = out + 1;
    *p++ = EFM_PROTO_VERSION;
    *p++ = cnt_kind;
    p = efm_put_u16(p, cnt_quantum);
    p = efm_put_u16(p, (uint16_t)EFM_PROTO_MAX_PAYLOAD);
    p = efm_put_u32(p, EFM_CORE_CLOCK_HZ);
    p = efm_put_u32(p, efm_arena_bytes);
    p = efm_put_u32(p, efm_stack_size());
    p = efm_put_u16(p, (uint16_t)EFM_NUM_LAYERS);
    *p++ = (uint8_t)EFM_NUM_INPUTS;
    *p++ = (uint8_t)EFM_NUM_OUTPUTS;
    for (int i = 0; i < EFM_NUM_INPUTS; i++) {
        p = efm_put_u32(p, efm_input_bytes(i));
    }
    for (int i = 0; i < EFM_NUM_OUTPUTS; i++) {
        p = efm_put_u32(p, efm_output_bytes(i));
    }
    p = put_str(p, EFM_BOARD_NAME);
    p = put_str(p, EFM_FIRMWARE_VERSION);
    p = put_str(p, efm_model_hash);
    out[0] = EFM_ST_OK;
    return (uint32_t)(p - out);
}

static uint32_t layer_bytes(int layer) {
    return efm_layer_output(layer) ? efm_layer_output_bytes(layer) : 0u;
}

static uint32_t cmd_run(const uint8_t *in, uint8_t *out) {
    const uint32_t n = efm_get_u32(in);
    const uint8_t flags = in[4];
    const uint16_t last = efm_get_u16(in + 5);
    if (n == 0u) {
        return (out[0] = EFM_ST_BAD_ARG, 1u);
    }
    if (last != ALL_LAYERS && last >= EFM_NUM_LAYERS) {
        return (out[0] = EFM_ST_BAD_INDEX, 1u);
    }
    if (last != ALL_LAYERS && n != 1u) {
        return (out[0] = EFM_ST_BAD_ARG, 1u);
    }
    const int stop = last == ALL_LAYERS ? EFM_NUM_LAYERS - 1 : (int)last;
    const int profile = (flags & RUN_FLAG_PROFILE) != 0;
    if (profile) {
        memset(prof_sums, 0, sizeof(prof_sums));
        prof_runs = 0;
    }
    efm_mlperf_invalidate(&mlperf);
    efm_proto_accepted(&proto);
    const uint32_t crc_before = input_crc();
    uint64_t total = 0, mn = UINT64_MAX, mx = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t c = 0;
        if (profile) {
            for (int l = 0; l <= stop; l++) {
                const uint64_t t0 = efm_counter_read();
                efm_run_layer(l);
                const uint64_t t1 = efm_counter_read();
                const uint64_t cl = measured(t0, t1);
                prof_sums[l] += cl;
                c += cl;
            }
#ifdef EFM_STREAMING
            if (stop == EFM_NUM_LAYERS - 1) {
                efm_state_commit(); /* a profiled step of the stream */
            }
#endif
            prof_runs++;
        } else if (stop == EFM_NUM_LAYERS - 1) {
            const uint64_t t0 = efm_counter_read();
            efm_run();
            c = measured(t0, efm_counter_read());
        } else {
            const uint64_t t0 = efm_counter_read();
            for (int l = 0; l <= stop; l++) {
                efm_run_layer(l);
            }
            c = measured(t0, efm_counter_read());
        }
        total += c;
        mn = c < mn ? c : mn;
        mx = c > mx ? c : mx;
    }
    outputs_valid = stop == EFM_NUM_LAYERS - 1;
    tensor_layer = stop;
    uint8_t *p = out + 1;
    p = efm_put_u32(p, n);
    *p++ = cnt_kind;
    p = efm_put_u64(p, total);
    p = efm_put_u32(p, mn > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)mn);
    p = efm_put_u32(p, mx > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)mx);
    *p++ = (uint8_t)(input_crc() == crc_before);
    out[0] = EFM_ST_OK;
    return (uint32_t)(p - out);
}

#ifdef EFM_STREAMING
/* STREAM_RESET: every state to its initial value; answers state_bytes u32, frame_bytes u32, output_bytes u32. */
static uint32_t cmd_stream_reset(uint8_t *out) {
    efm_model_reset();
    outputs_valid = 0;
    tensor_layer = -1;
    efm_mlperf_invalidate(&mlperf);
    uint8_t *p = efm_put_u32(out + 1, efm_state_bytes);
    p = efm_put_u32(p, EFM_FRAME_BYTES);
    p = efm_put_u32(p, EFM_STEP_OUTPUT_BYTES);
    out[0] = EFM_ST_OK;
    return (uint32_t)(p - out);
}

/* STREAM_STEP: n u16, then n frames; runs n consecutive steps and answers n u16, counter kind u8, then per step
 * count u32 (the step, state commit included) and the step's output. */
static uint32_t cmd_stream_step(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap) {
    if (len < 2u) {
        return (out[0] = EFM_ST_BAD_LENGTH, 1u);
    }
    const uint16_t n = efm_get_u16(in);
    if (n == 0u) {
        return (out[0] = EFM_ST_BAD_ARG, 1u);
    }
    if (len != 2u + (uint32_t)n * EFM_FRAME_BYTES) {
        return (out[0] = EFM_ST_BAD_LENGTH, 1u);
    }
    if (4u + (uint32_t)n * (4u + EFM_STEP_OUTPUT_BYTES) > cap) {
        return (out[0] = EFM_ST_TOO_LARGE, 1u);
    }
    efm_mlperf_invalidate(&mlperf);
    efm_proto_accepted(&proto);
    uint8_t *p = efm_put_u16(out + 1, n);
    *p++ = cnt_kind;
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *frame = in + 2u + k * EFM_FRAME_BYTES;
        uint32_t off = 0;
        for (int i = 0; i < EFM_NUM_INPUTS; i++) {
            memcpy(efm_input(i), frame + off, efm_input_bytes(i));
            off += efm_input_bytes(i);
        }
        const uint64_t t0 = efm_counter_read();
        efm_run();
        const uint64_t c = measured(t0, efm_counter_read());
        p = efm_put_u32(p, c > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)c);
        for (int o = 0; o < EFM_NUM_OUTPUTS; o++) {
            memcpy(p, efm_output(o), efm_output_bytes(o));
            p += efm_output_bytes(o);
        }
    }
    outputs_valid = 1;
    tensor_layer = EFM_NUM_LAYERS - 1;
    out[0] = EFM_ST_OK;
    return (uint32_t)(p - out);
}
#endif

static uint32_t cmd_read(const uint8_t *src, uint32_t size, int valid, uint32_t off, uint32_t len, uint8_t *out,
                         uint32_t cap) {
    if (len > cap - 1u) {
        return (out[0] = EFM_ST_TOO_LARGE, 1u);
    }
    if (off > size || len > size - off) {
        return (out[0] = EFM_ST_BAD_RANGE, 1u);
    }
    if (!valid) {
        return (out[0] = EFM_ST_BAD_STATE, 1u);
    }
    memcpy(out + 1, src + off, len);
    out[0] = EFM_ST_OK;
    return 1u + len;
}

static uint32_t handle(uint8_t type, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap, void *ctx) {
    (void)ctx;
    switch (type) {
    case EFM_CMD_INFO:
        return n ? (out[0] = EFM_ST_BAD_LENGTH, 1u) : cmd_info(out);
    case EFM_CMD_PING:
        if (n > cap - 1u) {
            return (out[0] = EFM_ST_TOO_LARGE, 1u);
        }
        memcpy(out + 1, in, n);
        out[0] = EFM_ST_OK;
        return 1u + n;
    case EFM_CMD_LAYER_INFO: {
        if (n != 2u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        const uint16_t l = efm_get_u16(in);
        if (l >= EFM_NUM_LAYERS) {
            return (out[0] = EFM_ST_BAD_INDEX, 1u);
        }
        uint8_t *p = efm_put_u32(out + 1, layer_bytes(l));
        p = put_str(p, efm_layer_name(l));
        p = put_str(p, efm_layer_op(l));
        out[0] = EFM_ST_OK;
        return (uint32_t)(p - out);
    }
    case EFM_CMD_LOAD_INPUT: {
        if (n < 5u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        const uint8_t i = in[0];
        const uint32_t off = efm_get_u32(in + 1), len = n - 5u;
        if (i >= EFM_NUM_INPUTS) {
            return (out[0] = EFM_ST_BAD_INDEX, 1u);
        }
        if (off > efm_input_bytes(i) || len > efm_input_bytes(i) - off) {
            return (out[0] = EFM_ST_BAD_RANGE, 1u);
        }
        memcpy((uint8_t *)efm_input(i) + off, in + 5, len);
        outputs_valid = 0;
        tensor_layer = -1;
        efm_mlperf_invalidate(&mlperf);
        return (out[0] = EFM_ST_OK, 1u);
    }
    case EFM_CMD_RUN:
        return n != 7u ? (out[0] = EFM_ST_BAD_LENGTH, 1u) : cmd_run(in, out);
    case EFM_CMD_PROFILE: {
        if (n != 4u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        const uint16_t first = efm_get_u16(in);
        uint16_t count = efm_get_u16(in + 2);
        if (first >= EFM_NUM_LAYERS) {
            return (out[0] = EFM_ST_BAD_INDEX, 1u);
        }
        if (count > EFM_NUM_LAYERS - first) {
            count = (uint16_t)(EFM_NUM_LAYERS - first);
        }
        if (count > PROFILE_PER_PAGE) {
            count = (uint16_t)PROFILE_PER_PAGE;
        }
        uint8_t *p = efm_put_u32(out + 1, prof_runs);
        *p++ = cnt_kind;
        p = efm_put_u16(p, first);
        p = efm_put_u16(p, count);
        for (uint16_t k = 0; k < count; k++) {
            p = efm_put_u64(p, prof_sums[first + k]);
        }
        out[0] = EFM_ST_OK;
        return (uint32_t)(p - out);
    }
    case EFM_CMD_STACK: {
        if (n != 1u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        uint8_t *p = efm_put_u32(out + 1, efm_stack_size());
        p = efm_put_u32(p, efm_stack_high_water());
        if (in[0] & STACK_FLAG_REPAINT) {
            efm_stack_repaint();
        }
        out[0] = EFM_ST_OK;
        return (uint32_t)(p - out);
    }
    case EFM_CMD_READ_OUTPUT: {
        if (n != 7u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        const uint8_t i = in[0];
        if (i >= EFM_NUM_OUTPUTS) {
            return (out[0] = EFM_ST_BAD_INDEX, 1u);
        }
        return cmd_read((const uint8_t *)efm_output(i), efm_output_bytes(i), outputs_valid, efm_get_u32(in + 1),
                        efm_get_u16(in + 5), out, cap);
    }
    case EFM_CMD_READ_TENSOR: {
        if (n != 8u) {
            return (out[0] = EFM_ST_BAD_LENGTH, 1u);
        }
        const uint16_t l = efm_get_u16(in);
        if (l >= EFM_NUM_LAYERS) {
            return (out[0] = EFM_ST_BAD_INDEX, 1u);
        }
        if (layer_bytes(l) == 0u) {
            return (out[0] = EFM_ST_UNAVAILABLE, 1u);
        }
        return cmd_read((const uint8_t *)efm_layer_output(l), layer_bytes(l), tensor_layer == (int32_t)l,
                        efm_get_u32(in + 2), efm_get_u16(in + 6), out, cap);
    }
#ifdef EFM_STREAMING
    case EFM_CMD_STREAM_RESET:
        return n ? (out[0] = EFM_ST_BAD_LENGTH, 1u) : cmd_stream_reset(out);
    case EFM_CMD_STREAM_STEP:
        return cmd_stream_step(in, n, out, cap);
#endif
    default:
        return (out[0] = EFM_ST_UNKNOWN_COMMAND, 1u);
    }
}

static void uart_write(const uint8_t *buf, uint32_t n, void *ctx) {
    (void)ctx;
    efm_uart_write(buf, n);
}

/* ------------------------------------------------------------------------------------------ MLPerf Tiny hooks */

static void text_write(const char *buf, uint32_t n, void *ctx) {
    (void)ctx;
    efm_uart_write(buf, n);
}

/* Microseconds of the counter's clock: core clock ticks (DWT CYCCNT on real boards; SysTick on QEMU, where it is
 * virtual time under -icount). */
static uint32_t text_micros(void *ctx) {
    (void)ctx;
    const uint64_t t = efm_counter_read();
    const uint64_t s = t / EFM_CORE_CLOCK_HZ, r = t % EFM_CORE_CLOCK_HZ;
    return (uint32_t)(s * 1000000u + r * 1000000u / EFM_CORE_CLOCK_HZ);
}

/* The text protocol is about to run the model: the binary protocol's outputs and tensors become stale. */
static void text_on_infer(void *ctx) {
    (void)ctx;
    outputs_valid = 0;
    tensor_layer = -1;
}

static void text_feed(uint8_t b, void *ctx) {
    (void)ctx;
    efm_mlperf_feed(&mlperf, b);
}

int main(void) {
    efm_uart_init();
    counter_setup();
#ifdef EFM_STREAMING
    efm_model_reset();
#endif
    efm_proto_init(&proto, uart_write, handle, 0);
    efm_proto_set_text(&proto, text_feed);
#ifdef EFM_MLPERF_MODEL
    efm_mlperf_init(&mlperf, text_write, text_micros, text_on_infer, 0, EFM_MLPERF_VENDOR, EFM_FIRMWARE_VERSION,
                    EFM_MLPERF_MODEL);
#else
    efm_mlperf_init(&mlperf, text_write, text_micros, text_on_infer, 0, EFM_MLPERF_VENDOR, EFM_FIRMWARE_VERSION,
                    efm_model_hash);
#endif
    static const char banner[] = "EFM-PROTO 1 " EFM_BOARD_NAME " ";
    efm_uart_write(banner, sizeof(banner) - 1u);
    efm_uart_write(efm_model_hash, (uint32_t)strlen(efm_model_hash));
    efm_uart_write("\n", 1u);
    efm_mlperf_boot(&mlperf);
    uint32_t idle = 0;
    for (;;) {
        const int c = efm_uart_getc_nonblock();
        if (c >= 0) {
            const uint8_t b = (uint8_t)c;
            if (b == EFM_PROTO_SOF) {
                efm_mlperf_discard(&mlperf); /* a frame starts: a partial text command is given up */
            }
            efm_proto_feed(&proto, &b, 1u); /* bytes outside frames reach the text protocol (text_feed) */
            idle = 0;
        } else if (proto.rx_len && ++idle >= EFM_PROTO_IDLE_POLLS) {
            efm_proto_idle(&proto);
            idle = 0;
        }
    }
}
