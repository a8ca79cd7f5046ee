/* edgefmr device protocol, firmware side: frame parser with resynchronization, CRCs, retry cache and NAKs.
 *
 * Portable C99 with no hardware access (it also builds on the host, for the fuzz target). The spec is
 * docs/protocol.md; the host side is edgefmr.protocol. The caller feeds received bytes and supplies two callbacks:
 * one that writes bytes to the link and one that executes a request and fills the response payload.
 */
#ifndef EFM_PROTOCOL_H
#define EFM_PROTOCOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EFM_PROTO_VERSION 1u
#define EFM_PROTO_SOF 0xA5u
#define EFM_PROTO_MAX_PAYLOAD 1024u
#define EFM_PROTO_HEADER 7u
#define EFM_PROTO_TRAILER 4u
#define EFM_PROTO_MAX_FRAME (EFM_PROTO_HEADER + EFM_PROTO_MAX_PAYLOAD + EFM_PROTO_TRAILER)
#define EFM_PROTO_RESPONSE 0x80u
#define EFM_PROTO_NAK 0xFFu
#define EFM_PROTO_ACCEPTED 0xFEu /* device -> host: a long request was received and is running */
/* VER is below this in every protocol version: SOF followed by a byte >= 0x20 (text) is a stray SOF, not a frame */
#define EFM_PROTO_VERSION_LIMIT 0x20u
#define EFM_PROTO_NAK_CRC 1u
#define EFM_PROTO_NAK_VERSION 2u
#define EFM_PROTO_NAK_HEADER 3u /* a header failed its CRC-8: its SEQ is unknown (sent as 0) */

/* Commands (request TYPE). */
enum {
    EFM_CMD_INFO = 0x01,
    EFM_CMD_PING = 0x02,
    EFM_CMD_LAYER_INFO = 0x03,
    EFM_CMD_LOAD_INPUT = 0x10,
    EFM_CMD_RUN = 0x11,
    EFM_CMD_PROFILE = 0x12,
    EFM_CMD_STACK = 0x13,
    EFM_CMD_READ_OUTPUT = 0x20,
    EFM_CMD_READ_TENSOR = 0x21,
    EFM_CMD_STREAM_RESET = 0x30, /* streaming builds: state to its initial value; stream sizes */
    EFM_CMD_STREAM_STEP = 0x31   /* streaming builds: n frames in, n (count, step output) out */
};

/* Response status codes (first payload byte). */
enum {
    EFM_ST_OK = 0,
    EFM_ST_UNKNOWN_COMMAND = 1,
    EFM_ST_BAD_LENGTH = 2,
    EFM_ST_BAD_INDEX = 3,
    EFM_ST_BAD_RANGE = 4,
    EFM_ST_BAD_STATE = 5,
    EFM_ST_TOO_LARGE = 6,
    EFM_ST_BAD_ARG = 7,
    EFM_ST_UNAVAILABLE = 8
};

/* Writes n bytes to the link. */
typedef void (*efm_proto_write_fn)(const uint8_t *buf, uint32_t n, void *ctx);
/* Executes request `type` with `payload[0..len)`; writes the response payload (status byte first) into
 * out[0..cap) and returns its length (>= 1, <= cap). */
/* Receives each byte that is not part of a valid frame (text sharing the link, a stray SOF, damage), in order. */
typedef void (*efm_proto_text_fn)(uint8_t byte, void *ctx);
typedef uint32_t (*efm_proto_handler_fn)(uint8_t type, const uint8_t *payload, uint32_t len, uint8_t *out,
                                         uint32_t cap, void *ctx);

typedef struct {
    uint8_t rx[EFM_PROTO_MAX_FRAME];
    uint32_t rx_len;
    uint8_t tx[EFM_PROTO_MAX_FRAME]; /* the last response, kept for retries */
    uint32_t tx_len;
    uint8_t have_last;
    uint8_t last_seq;
    uint8_t cur_seq; /* SEQ of the request being executed */
    uint32_t last_crc;
    uint8_t nak_hold; /* a NAK was sent since the last valid frame: no header NAKs for the damaged bytes after it */
    efm_proto_write_fn write;
    efm_proto_handler_fn handle;
    efm_proto_text_fn text; /* optional (0): bytes outside frames */
    void *ctx;
    /* counters */
    uint32_t frames;
    uint32_t duplicates;
    uint32_t bad_headers;
    uint32_t bad_crcs;
    uint32_t garbage;
} efm_proto;

void efm_proto_init(efm_proto *p, efm_proto_write_fn write, efm_proto_handler_fn handle, void *ctx);
/* Bytes outside frames go to `text` (e.g. the MLPerf Tiny text protocol on the same link). */
void efm_proto_set_text(efm_proto *p, efm_proto_text_fn text);
/* Processes received bytes: complete frames are executed (or answered from the retry cache, or NAKed). */
void efm_proto_feed(efm_proto *p, const uint8_t *data, uint32_t n);
/* The link was silent: give up the partial frame at the head of the buffer and rescan what follows. */
void efm_proto_idle(efm_proto *p);
/* From a handler, before a long execution: tell the host the request arrived (an ACCEPTED frame with its SEQ), so
 * that it waits for the whole execution instead of resending a request it believes lost. */
void efm_proto_accepted(efm_proto *p);

/* CRC-8/SMBUS (poly 0x07, init 0). */
uint8_t efm_crc8(const uint8_t *data, uint32_t n);
/* CRC-32/ISO-HDLC, incremental: start with crc = 0, pass the previous result to continue. */
uint32_t efm_crc32(uint32_t crc, const uint8_t *data, uint32_t n);

/* Little-endian field helpers for handlers. */
static inline uint16_t efm_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t efm_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint8_t *efm_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static inline uint8_t *efm_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return p + 4;
}
static inline uint8_t *efm_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return p + 8;
}

#ifdef __cplusplus
}
#endif

#endif /* EFM_PROTOCOL_H */
