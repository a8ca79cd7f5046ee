/* MLPerf Tiny (EEMBC runner) text protocol (see mlperf.h and docs/protocol.md, "MLPerf Tiny"). */
#include "mlperf.h"

#include <string.h>

#include "efm_runtime.h"
#include "model.h"

#ifndef EFM_INPUT_BYTES_TOTAL
#error "model.h must define EFM_INPUT_BYTES_TOTAL (the bytes of all graph inputs)"
#endif

/* The `db` buffer (the reference's gp_buff): the raw bytes of every graph input, in input order. It is kept apart
 * from the arena because the memory planner may reuse input memory during a run. A second copy of a large input
 * would cost as much SRAM as the input itself (169 KiB for a 240x240 RGB image), so models whose inputs exceed
 * EFM_MLPERF_MAX_DB_BYTES (64 KiB unless defined; every MLPerf Tiny benchmark's input is <= 27 KiB) have no db
 * buffer: `db load` is refused and the binary protocol is the way to run them. */
#ifndef EFM_MLPERF_MAX_DB_BYTES
#define EFM_MLPERF_MAX_DB_BYTES 65536u
#endif
#if EFM_INPUT_BYTES_TOTAL <= EFM_MLPERF_MAX_DB_BYTES
#define EFM_MLPERF_DB_BYTES EFM_INPUT_BYTES_TOTAL
#else
#define EFM_MLPERF_DB_BYTES 0u
#endif
static uint8_t db_buf[EFM_MLPERF_DB_BYTES ? EFM_MLPERF_DB_BYTES : 1u];

/* ------------------------------------------------------------------------------------------ output */

static void put(efm_mlperf *m, const char *s, uint32_t n) {
    m->write(s, n, m->ctx);
}

static void puts_(efm_mlperf *m, const char *s) {
    put(m, s, (uint32_t)strlen(s));
}

static void put_u32(efm_mlperf *m, uint32_t v) {
    char b[12];
    put(m, b, efm_fmt_u32(b, v));
}

/* "e-[" text "]\r\n" */
static void err(efm_mlperf *m, const char *text) {
    puts_(m, "e-[");
    puts_(m, text);
    puts_(m, "]\r\n");
}

/* ------------------------------------------------------------------------------------------ numbers */

/* atoi as the reference uses it: optional spaces and sign, then digits up to the first non-digit (clamped). */
static int32_t to_int(const char *s) {
    while (*s == ' ') {
        s++;
    }
    int neg = 0;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > 2147483647) {
            v = 2147483648LL;
        }
    }
    v = neg ? -v : v;
    return v > 2147483647 ? 2147483647 : (int32_t)v;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

uint32_t efm_mlperf_fmt_f3(char *dst, float v) {
    /* v = mant * 2^e exactly; v * 1000 rounded half to even is the number of thousandths that printf prints. */
    uint32_t bits;
    memcpy(&bits, &v, sizeof(bits));
    const int neg = (int)(bits >> 31);
    const int32_t ebits = (int32_t)((bits >> 23) & 0xFFu);
    uint64_t mant = bits & 0x7FFFFFu;
    int32_t e;
    if (ebits == 0) {
        e = -149; /* subnormal */
    } else {
        mant |= 0x800000u;
        e = ebits - 150;
    }
    const uint64_t scaled = mant * 1000u; /* < 2^34 */
    uint64_t t;                           /* thousandths, rounded */
    if (e >= 0) {
        t = e > 29 ? UINT64_MAX : scaled << e; /* |v| < 2^53: e <= 29 */
    } else if (e <= -40) {
        t = 0; /* scaled * 2^e < 2^-6: rounds to 0 */
    } else {
        const uint32_t s = (uint32_t)(-e);
        const uint64_t q = scaled >> s, r = scaled & ((1ull << s) - 1u), half = 1ull << (s - 1u);
        t = q + ((r > half || (r == half && (q & 1u))) ? 1u : 0u);
    }
    uint32_t n = 0;
    if (neg) {
        dst[n++] = '-';
    }
    const uint64_t ip = t / 1000u;
    const uint32_t fp = (uint32_t)(t - ip * 1000u);
    n += efm_fmt_u64(dst + n, ip);
    dst[n++] = '.';
    dst[n++] = (char)('0' + fp / 100u);
    dst[n++] = (char)('0' + fp / 10u % 10u);
    dst[n++] = (char)('0' + fp % 10u);
    return n;
}

/* ------------------------------------------------------------------------------------------ th_ functions */

static void timestamp(efm_mlperf *m) {
    puts_(m, "m-lap-us-");
    put_u32(m, m->micros(m->ctx));
    puts_(m, "\r\n");
}

/* th_load_tensor: the db bytes into the graph inputs. */
static void load_tensor(void) {
    uint32_t off = 0;
    for (int i = 0; i < EFM_NUM_INPUTS; i++) {
        memcpy(efm_input(i), db_buf + off, efm_input_bytes(i));
        off += efm_input_bytes(i);
    }
}

/* th_infer: one inference. The input is loaded again first: the planner may have reused its memory. */
static void infer_once(void) {
    load_tensor();
    efm_run();
}

/* th_results: every output, dequantized, "%.3f", comma separated. */
static void results(efm_mlperf *m) {
    if (!m->results_valid) {
        err(m, "No results: run 'infer' first");
        return;
    }
    puts_(m, "m-results-[");
    int first = 1;
    for (int i = 0; i < EFM_NUM_OUTPUTS; i++) {
        const int8_t *y = efm_output(i);
        const float scale = efm_output_scale(i), zp = (float)efm_output_zero_point(i);
        for (uint32_t j = 0; j < efm_output_bytes(i); j++) {
            char b[28];
            uint32_t n = 0;
            if (!first) {
                b[n++] = ',';
            }
            first = 0;
            n += efm_mlperf_fmt_f3(b + n, ((float)y[j] - zp) * scale);
            put(m, b, n);
        }
    }
    puts_(m, "]\r\n");
}

/* ------------------------------------------------------------------------------------------ commands */

static void cmd_db(efm_mlperf *m, char *sub, char *arg) {
    if (sub == 0) {
        err(m, "Command 'db' requires a subcommand");
    } else if (strcmp(sub, "load") == 0) {
        if (arg == 0) {
            err(m, "Command 'db load' requires the # of bytes");
            return;
        }
        const int32_t n = to_int(arg);
        if (n <= 0) {
            err(m, "Command 'db load' must be >0 bytes");
        } else if (EFM_MLPERF_DB_BYTES == 0u) {
            puts_(m, "e-[The model input of ");
            put_u32(m, (uint32_t)EFM_INPUT_BYTES_TOTAL);
            puts_(m, " bytes exceeds the db limit of ");
            put_u32(m, (uint32_t)EFM_MLPERF_MAX_DB_BYTES);
            puts_(m, " bytes of this firmware; use the edgefmr protocol]\r\n");
        } else if ((uint32_t)n > (uint32_t)EFM_INPUT_BYTES_TOTAL) {
            puts_(m, "e-[Supplied buffer size ");
            put_u32(m, (uint32_t)n);
            puts_(m, " exceeds maximum of ");
            put_u32(m, (uint32_t)EFM_INPUT_BYTES_TOTAL);
            puts_(m, "]\r\n");
        } else {
            m->db_size = (uint32_t)n;
            m->db_pos = 0;
            puts_(m, "m-[Expecting ");
            put_u32(m, (uint32_t)n);
            puts_(m, " bytes]\r\n");
        }
    } else if (strcmp(sub, "print") == 0) {
        /* 8 bytes per line: m-buffer-xx-xx-... (the whole announced buffer) */
        for (uint32_t i = 0; i < m->db_size; i += 8u) {
            char b[9 + 8 * 3 + 2];
            uint32_t n = 0;
            memcpy(b, "m-buffer-", 9);
            n = 9;
            for (uint32_t k = i; k < m->db_size && k < i + 8u; k++) {
                if (k != i) {
                    b[n++] = '-';
                }
                n += efm_fmt_hex8(b + n, db_buf[k]);
            }
            b[n++] = '\r';
            b[n++] = '\n';
            put(m, b, n);
        }
    } else {
        const uint32_t len = (uint32_t)strlen(sub);
        if (len & 1u) {
            err(m, "Insufficent number of hex digits"); /* sic: the reference's message */
            return;
        }
        if (m->db_pos >= m->db_size) {
            err(m, "No bytes expected: send 'db load N' first");
            return;
        }
        for (uint32_t i = 0; i < len; i += 2u) {
            const int hi = hexval(sub[i]), lo = hexval(sub[i + 1u]);
            if (hi < 0 || lo < 0) {
                char text[] = "Invalid hex digit '  '";
                text[19] = sub[i];
                text[20] = sub[i + 1u];
                err(m, text);
                return;
            }
            db_buf[m->db_pos++] = (uint8_t)(hi * 16 + lo);
            if (m->db_pos == m->db_size) {
                puts_(m, "m-load-done\r\n"); /* the remainder of the digits is disregarded */
                return;
            }
        }
    }
}

static void cmd_infer(efm_mlperf *m, char *a1, char *a2) {
    int32_t n = 1, w = 10;
    if (a1) {
        n = to_int(a1);
        if (n <= 0) {
            err(m, "Inference iterations must be >0");
            return;
        }
        if (a2) {
            w = to_int(a2);
            if (w < 0) {
                err(m, "Inference warmup must be >=0");
                return;
            }
        }
    }
    if (m->db_pos != (uint32_t)EFM_INPUT_BYTES_TOTAL || m->db_size != (uint32_t)EFM_INPUT_BYTES_TOTAL) {
        puts_(m, "e-[Input db has ");
        put_u32(m, m->db_pos);
        puts_(m, " bytes, expected ");
        put_u32(m, (uint32_t)EFM_INPUT_BYTES_TOTAL);
        puts_(m, "]\r\n");
        return;
    }
    if (m->on_infer) {
        m->on_infer(m->ctx);
    }
    puts_(m, "m-warmup-start-");
    put_u32(m, (uint32_t)w);
    puts_(m, "\r\n");
    for (int32_t k = 0; k < w; k++) {
        infer_once();
    }
    puts_(m, "m-warmup-done\r\nm-infer-start-");
    put_u32(m, (uint32_t)n);
    puts_(m, "\r\n");
    timestamp(m);
    for (int32_t k = 0; k < n; k++) {
        infer_once();
    }
    timestamp(m);
    puts_(m, "m-infer-done\r\n");
    m->results_valid = 1;
    results(m);
}

static void cmd_help(efm_mlperf *m) {
    puts_(m, m->fw_version);
    puts_(m, "\r\n\r\n"
             "help         : Print this information\r\n"
             "name         : Print the name of the device\r\n"
             "timestamp    : Generate a timestamp\r\n"
             "db SUBCMD    : Manipulate a generic byte buffer\r\n"
             "  load N     : Allocate N bytes and set load counter\r\n"
             "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes\r\n"
             "  print      : Print the buffer as hex, 8 bytes per line\r\n"
             "infer N [W=10]: Load input, execute N inferences after W warmup loops\r\n"
             "results      : Return the result fp32 vector\r\n");
}

/* Splits at spaces like strtok(s, " "): up to 4 tokens, the rest ignored. */
static uint32_t split(char *s, char **tok) {
    uint32_t n = 0;
    while (*s && n < 4u) {
        while (*s == ' ') {
            s++;
        }
        if (!*s) {
            break;
        }
        tok[n++] = s;
        while (*s && *s != ' ') {
            s++;
        }
        if (*s) {
            *s++ = 0;
        }
    }
    return n;
}

static void execute(efm_mlperf *m) {
    char *tok[4] = {0, 0, 0, 0};
    const uint32_t n = split(m->cmd, tok);
    m->commands++;
    const char *c = n ? tok[0] : "";
    if (strcmp(c, "name") == 0) {
        puts_(m, "m-name-dut-[");
        puts_(m, m->vendor);
        puts_(m, "]\r\n");
    } else if (strcmp(c, "timestamp") == 0) {
        timestamp(m);
    } else if (strcmp(c, "profile") == 0) {
        puts_(m, "m-profile-[");
        puts_(m, m->fw_version);
        puts_(m, "]\r\nm-model-[");
        puts_(m, m->model);
        puts_(m, "]\r\n");
    } else if (strcmp(c, "help") == 0) {
        cmd_help(m);
    } else if (strcmp(c, "db") == 0) {
        cmd_db(m, tok[1], tok[2]);
    } else if (strcmp(c, "infer") == 0) {
        cmd_infer(m, tok[1], tok[2]);
    } else if (strcmp(c, "results") == 0) {
        results(m);
    } else {
        puts_(m, "e-[Unknown command: ");
        puts_(m, c);
        puts_(m, "]\r\n");
    }
    puts_(m, "m-ready\r\n");
}

/* ------------------------------------------------------------------------------------------ API */

void efm_mlperf_init(efm_mlperf *m, void (*write)(const char *, uint32_t, void *), uint32_t (*micros)(void *),
                     void (*on_infer)(void *), void *ctx, const char *vendor, const char *fw_version,
                     const char *model) {
    memset(m, 0, sizeof(*m));
    m->write = write;
    m->micros = micros;
    m->on_infer = on_infer;
    m->ctx = ctx;
    m->vendor = vendor;
    m->fw_version = fw_version;
    m->model = model;
}

void efm_mlperf_boot(efm_mlperf *m) {
    puts_(m, "m-timestamp-mode-performance\r\nm-init-done\r\nm-ready\r\n");
}

void efm_mlperf_feed(efm_mlperf *m, uint8_t c) {
    if (c == '%') {
        m->cmd[m->cmd_len] = 0;
        execute(m);
        m->cmd_len = 0;
    } else if (c < 0x20u || c > 0x7Eu) {
        m->cmd_len = 0;
    } else {
        /* like the reference: a command longer than the buffer keeps overwriting its last character */
        m->cmd[m->cmd_len] = (char)c;
        if (m->cmd_len < EFM_MLPERF_CMD_SIZE) {
            m->cmd_len++;
        }
    }
}

void efm_mlperf_discard(efm_mlperf *m) {
    m->cmd_len = 0;
}

void efm_mlperf_invalidate(efm_mlperf *m) {
    m->results_valid = 0;
}
