/* edgefmr device protocol, firmware side (see protocol.h and docs/protocol.md). */
#include "protocol.h"

#include <string.h>

uint8_t efm_crc8(const uint8_t *data, uint32_t n) {
    uint8_t c = 0;
    while (n--) {
        c ^= *data++;
        for (int k = 0; k < 8; k++) {
            c = (uint8_t)((c & 0x80u) ? (((uint32_t)c << 1) ^ 0x07u) : ((uint32_t)c << 1));
        }
    }
    return c;
}

uint32_t efm_crc32(uint32_t crc, const uint8_t *data, uint32_t n) {
    crc = ~crc;
    while (n--) {
        crc ^= *data++;
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

void efm_proto_init(efm_proto *p, efm_proto_write_fn write, efm_proto_handler_fn handle, void *ctx) {
    memset(p, 0, sizeof(*p));
    p->write = write;
    p->handle = handle;
    p->ctx = ctx;
}

/* Header + payload already in f[0..7+len); adds lengths, HCRC and CRC-32; returns the frame length. */
static uint32_t finish_frame(uint8_t *f, uint8_t type, uint8_t seq, uint32_t len) {
    f[0] = EFM_PROTO_SOF;
    f[1] = EFM_PROTO_VERSION;
    f[2] = type;
    f[3] = seq;
    f[4] = (uint8_t)len;
    f[5] = (uint8_t)(len >> 8);
    f[6] = efm_crc8(f + 1, 5);
    efm_put_u32(f + EFM_PROTO_HEADER + len, efm_crc32(0, f + 1, EFM_PROTO_HEADER - 1 + len));
    return EFM_PROTO_HEADER + len + EFM_PROTO_TRAILER;
}

static void send_nak(efm_proto *p, uint8_t seq, uint8_t reason) {
    p->nak_hold = 1;
    uint8_t f[EFM_PROTO_HEADER + 2 + EFM_PROTO_TRAILER];
    f[EFM_PROTO_HEADER] = reason;
    f[EFM_PROTO_HEADER + 1] = EFM_PROTO_VERSION;
    p->write(f, finish_frame(f, EFM_PROTO_NAK, seq, reason == EFM_PROTO_NAK_VERSION ? 2u : 1u), p->ctx);
}

void efm_proto_accepted(efm_proto *p) {
    uint8_t f[EFM_PROTO_HEADER + EFM_PROTO_TRAILER];
    p->write(f, finish_frame(f, EFM_PROTO_ACCEPTED, p->cur_seq, 0u), p->ctx);
}

void efm_proto_set_text(efm_proto *p, efm_proto_text_fn text) {
    p->text = text;
}

/* Drops n bytes from the head of the buffer; `outside` says they are not part of a valid frame (text sees them). */
static void drop_bytes(efm_proto *p, uint32_t n, int outside) {
    if (outside && p->text) {
        for (uint32_t i = 0; i < n && i < p->rx_len; i++) {
            p->text(p->rx[i], p->ctx);
        }
    }
    if (n >= p->rx_len) {
        p->rx_len = 0;
        return;
    }
    memmove(p->rx, p->rx + n, p->rx_len - n);
    p->rx_len -= n;
}

static void drop(efm_proto *p, uint32_t n) {
    drop_bytes(p, n, 1);
}

static void dispatch(efm_proto *p, uint32_t len, uint32_t crc) {
    const uint8_t *f = p->rx;
    const uint8_t type = f[2], seq = f[3];
    if (type & EFM_PROTO_RESPONSE) {
        return; /* not a request (an echo of our own output, or another device): ignore */
    }
    if (f[1] != EFM_PROTO_VERSION) {
        send_nak(p, seq, EFM_PROTO_NAK_VERSION);
        return;
    }
    p->frames++;
    p->nak_hold = 0;
    if (p->have_last && seq == p->last_seq && crc == p->last_crc) {
        p->duplicates++;
        p->write(p->tx, p->tx_len, p->ctx); /* a retry: answer from the cache, do not execute again */
        return;
    }
    p->cur_seq = seq;
    uint32_t n = p->handle(type, f + EFM_PROTO_HEADER, len, p->tx + EFM_PROTO_HEADER, EFM_PROTO_MAX_PAYLOAD, p->ctx);
    if (n == 0 || n > EFM_PROTO_MAX_PAYLOAD) {
        p->tx[EFM_PROTO_HEADER] = EFM_ST_BAD_ARG;
        n = 1;
    }
    p->tx_len = finish_frame(p->tx, (uint8_t)(type | EFM_PROTO_RESPONSE), seq, n);
    p->have_last = 1;
    p->last_seq = seq;
    p->last_crc = crc;
    p->write(p->tx, p->tx_len, p->ctx);
}

/* Parses as many frames as the buffer holds; leaves an incomplete frame (starting with SOF) in place. */
static void scan(efm_proto *p) {
    for (;;) {
        if (p->rx_len == 0) {
            return;
        }
        if (p->rx[0] != EFM_PROTO_SOF) {
            uint32_t i = 1;
            while (i < p->rx_len && p->rx[i] != EFM_PROTO_SOF) {
                i++;
            }
            p->garbage += i;
            drop(p, i);
            continue;
        }
        if (p->rx_len >= 2u && p->rx[1] >= EFM_PROTO_VERSION_LIMIT) {
            p->garbage++; /* a stray SOF before text (an MLPerf Tiny command): not a frame start */
            drop(p, 1);
            continue;
        }
        if (p->rx_len < EFM_PROTO_HEADER) {
            return;
        }
        const uint32_t len = (uint32_t)p->rx[4] | ((uint32_t)p->rx[5] << 8);
        if (efm_crc8(p->rx + 1, 5) != p->rx[6] || len > EFM_PROTO_MAX_PAYLOAD) {
            p->bad_headers++;
            if (!p->nak_hold) {
                /* a request whose header was damaged: ask for it again now instead of leaving the host to time
                 * out; the bytes after it (the rest of that frame) get no more header NAKs until a valid frame */
                send_nak(p, 0u, EFM_PROTO_NAK_HEADER);
            }
            p->garbage++;
            drop(p, 1);
            continue;
        }
        const uint32_t need = EFM_PROTO_HEADER + len + EFM_PROTO_TRAILER;
        if (p->rx_len < need) {
            return;
        }
        const uint32_t crc = efm_crc32(0, p->rx + 1, EFM_PROTO_HEADER - 1 + len);
        if (crc == efm_get_u32(p->rx + EFM_PROTO_HEADER + len)) {
            dispatch(p, len, crc);
            drop_bytes(p, need, 0);
        } else {
            p->bad_crcs++;
            if (!(p->rx[2] & EFM_PROTO_RESPONSE)) {
                send_nak(p, p->rx[3], EFM_PROTO_NAK_CRC);
            }
            p->garbage++;
            drop(p, 1);
        }
    }
}

void efm_proto_feed(efm_proto *p, const uint8_t *data, uint32_t n) {
    while (n--) {
        /* scan() never leaves more than one incomplete frame (<= EFM_PROTO_MAX_FRAME - 1 bytes) behind */
        p->rx[p->rx_len++] = *data++;
        scan(p);
    }
}

void efm_proto_idle(efm_proto *p) {
    while (p->rx_len) {
        p->garbage++;
        drop(p, 1);
        scan(p);
    }
}
