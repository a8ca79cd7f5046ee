/* Fuzz target of the firmware frame parser (firmware/c/runtime/protocol.c), host build.
 *
 * libFuzzer:  clang -g -fsanitize=fuzzer,address,undefined -I firmware/c/runtime \
 *                 tests/firmware/fuzz_protocol.c firmware/c/runtime/protocol.c -o fuzz_protocol
 * Without libFuzzer (gcc), -DEFM_FUZZ_MAIN builds a driver that runs ITERATIONS random streams (seeded): valid
 * frames with distinct (seq, payload) between random garbage, damaged frames, truncated frames and fake headers,
 * fed in random split sizes. It checks, under ASan/UBSan, that every valid frame is executed exactly once and in
 * order, that nothing else is executed, and that every byte the device writes is a well-formed frame.
 * tests/device/test_device_qemu.py builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static uint32_t executed;
static uint8_t exec_seq[4096];
static uint16_t exec_len[4096];
static uint32_t exec_crc[4096];

static uint32_t handler(uint8_t type, const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap, void *ctx) {
    (void)ctx;
    if (n > EFM_PROTO_MAX_PAYLOAD || cap != EFM_PROTO_MAX_PAYLOAD) {
        abort();
    }
    if (executed < 4096u) {
        exec_seq[executed] = type;
        exec_len[executed] = (uint16_t)n;
        exec_crc[executed] = efm_crc32(0, in, n);
    }
    executed++;
    /* echo up to cap-1 bytes (exercises full-size responses) */
    uint32_t m = n < cap - 1u ? n : cap - 1u;
    out[0] = 0;
    memcpy(out + 1, in, m);
    return 1u + m;
}

/* Every write must be one complete, valid frame. */
static void writer(const uint8_t *buf, uint32_t n, void *ctx) {
    (void)ctx;
    if (n < EFM_PROTO_HEADER + EFM_PROTO_TRAILER || buf[0] != EFM_PROTO_SOF) {
        abort();
    }
    uint32_t len = (uint32_t)buf[4] | ((uint32_t)buf[5] << 8);
    if (n != EFM_PROTO_HEADER + len + EFM_PROTO_TRAILER || efm_crc8(buf + 1, 5) != buf[6] ||
        efm_crc32(0, buf + 1, EFM_PROTO_HEADER - 1 + len) != efm_get_u32(buf + EFM_PROTO_HEADER + len)) {
        abort();
    }
}

static efm_proto proto;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    efm_proto_init(&proto, writer, handler, 0);
    /* first byte picks the split size, so bytes arrive in different chunkings */
    uint32_t split = size ? (uint32_t)data[0] % 64u + 1u : 1u;
    for (size_t i = 1; i < size; i += split) {
        size_t k = size - i < split ? size - i : split;
        efm_proto_feed(&proto, data + i, (uint32_t)k);
    }
    efm_proto_idle(&proto);
    if (proto.rx_len != 0) {
        abort();
    }
    return 0;
}

#ifdef EFM_FUZZ_MAIN
static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static uint32_t frame(uint8_t *f, uint8_t type, uint8_t seq, const uint8_t *p, uint32_t len) {
    f[0] = EFM_PROTO_SOF;
    f[1] = EFM_PROTO_VERSION;
    f[2] = type;
    f[3] = seq;
    f[4] = (uint8_t)len;
    f[5] = (uint8_t)(len >> 8);
    f[6] = efm_crc8(f + 1, 5);
    memcpy(f + 7, p, len);
    efm_put_u32(f + 7 + len, efm_crc32(0, f + 1, 6 + len));
    return 11u + len;
}

static uint8_t stream[1u << 20];

int main(int argc, char **argv) {
    const long iterations = argc > 1 ? atol(argv[1]) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], 0, 10) | 1u : 88172645463325252ull;
    uint8_t payload[EFM_PROTO_MAX_PAYLOAD], f[EFM_PROTO_MAX_FRAME];
    uint8_t want_type[64];
    uint16_t want_len[64];
    uint32_t want_crc[64];
    for (long it = 0; it < iterations; it++) {
        uint32_t n = 0, valid = 0;
        const uint32_t frames = 1u + rnd() % 40u;
        for (uint32_t k = 0; k < frames && n < sizeof(stream) - 4u * EFM_PROTO_MAX_FRAME; k++) {
            const uint32_t len = rnd() % 4u == 0 ? rnd() % (EFM_PROTO_MAX_PAYLOAD + 1u) : rnd() % 48u;
            for (uint32_t i = 0; i < len; i++) {
                payload[i] = (uint8_t)rnd();
            }
            const uint8_t type = (uint8_t)(rnd() % 0x7Fu + 1u);
            const uint32_t fl = frame(f, type, (uint8_t)k, payload, len);
            switch (rnd() % 6u) {
            case 0: /* garbage, with SOF bytes and fake headers */
                for (uint32_t g = rnd() % 64u; g; g--) {
                    stream[n++] = rnd() % 4u ? (uint8_t)rnd() : EFM_PROTO_SOF;
                }
                break;
            case 1: { /* a damaged copy (one byte) */
                memcpy(stream + n, f, fl);
                stream[n + rnd() % fl] ^= (uint8_t)(rnd() % 255u + 1u);
                n += fl;
                break;
            }
            case 2: /* a truncated copy */
                memcpy(stream + n, f, fl / 2u);
                n += fl / 2u;
                break;
            default:
                break;
            }
            if (valid < 64u) { /* then the good frame */
                memcpy(stream + n, f, fl);
                n += fl;
                want_type[valid] = type;
                want_len[valid] = (uint16_t)len;
                want_crc[valid] = efm_crc32(0, payload, len);
                valid++;
            }
        }
        executed = 0;
        efm_proto_init(&proto, writer, handler, 0);
        for (uint32_t i = 0; i < n;) {
            uint32_t k = 1u + rnd() % 300u;
            if (k > n - i) {
                k = n - i;
            }
            efm_proto_feed(&proto, stream + i, k);
            i += k;
        }
        efm_proto_idle(&proto);
        /* each valid frame once, in order (a damaged copy before it may have been NAKed, never executed) */
        if (executed != valid) {
            fprintf(stderr, "iteration %ld: %u valid frames, %u executed\n", it, valid, executed);
            return 1;
        }
        for (uint32_t v = 0; v < valid; v++) {
            if (exec_seq[v] != want_type[v] || exec_len[v] != want_len[v] || exec_crc[v] != want_crc[v]) {
                fprintf(stderr, "iteration %ld: frame %u executed wrong\n", it, v);
                return 1;
            }
        }
        LLVMFuzzerTestOneInput(stream, n < 4096u ? n : 4096u); /* raw bytes as a fuzz input too */
    }
    printf("ok %ld\n", iterations);
    return 0;
}
#endif
