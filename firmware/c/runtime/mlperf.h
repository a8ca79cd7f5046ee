/* MLPerf Tiny (EEMBC runner) text protocol, firmware side.
 *
 * The commands of the MLPerf Tiny benchmark API (mlcommons/tiny, api/internally_implemented.c and the th_ functions
 * of submitter_implemented.h) on the same UART as the binary edgefmr protocol: `name%`, `profile%`, `timestamp%`,
 * `db load N%`, `db HEX%`, `db print%`, `infer N W%`, `results%`, `help%`. Every command is answered by its reply
 * lines and `m-ready`; errors are `e-[...]` lines. The spec summary is in docs/protocol.md ("MLPerf Tiny").
 *
 * Portable C99 without hardware access (it also builds on the host): the caller feeds received bytes and supplies
 * a writer and a microsecond clock. The model is the generated model C API (model.h), which also provides
 * EFM_INPUT_BYTES_TOTAL (the db buffer size) and the output quantization (efm_output_scale/zero_point) for the
 * dequantized results line.
 */
#ifndef EFM_MLPERF_H
#define EFM_MLPERF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest command (characters before the terminator '%'), as EE_CMD_SIZE of the reference. */
#define EFM_MLPERF_CMD_SIZE 80u

typedef struct {
    /* Writes n bytes to the link. */
    void (*write)(const char *buf, uint32_t n, void *ctx);
    /* Microseconds of a free-running clock (wraps at 2^32, as the reference's %lu on 32-bit cores). */
    uint32_t (*micros)(void *ctx);
    /* Called before the text protocol runs the model (the binary protocol's outputs become stale). */
    void (*on_infer)(void *ctx);
    void *ctx;
    const char *vendor;     /* m-name-dut-[vendor] */
    const char *fw_version; /* m-profile-[fw_version] */
    const char *model;      /* m-model-[model] */
    char cmd[EFM_MLPERF_CMD_SIZE + 1u];
    uint32_t cmd_len;
    uint32_t db_size; /* bytes announced by `db load N` */
    uint32_t db_pos;  /* bytes received since */
    uint8_t results_valid;
    uint32_t commands; /* commands executed (counter) */
} efm_mlperf;

/* Sets up the context; nothing is written. */
void efm_mlperf_init(efm_mlperf *m, void (*write)(const char *, uint32_t, void *), uint32_t (*micros)(void *),
                     void (*on_infer)(void *), void *ctx, const char *vendor, const char *fw_version,
                     const char *model);
/* The boot lines of the reference firmware: timestamp mode, m-init-done, m-ready. */
void efm_mlperf_boot(efm_mlperf *m);
/* Processes one received byte of text: '%' ends a command, which is executed and answered. A byte outside
 * printable ASCII (such as the binary protocol's SOF, or line ends typed in a terminal) discards the partial
 * command. */
void efm_mlperf_feed(efm_mlperf *m, uint8_t c);
/* Drops a partial command (the binary protocol took over the link). */
void efm_mlperf_discard(efm_mlperf *m);
/* The model's outputs no longer hold the text protocol's last results (the binary protocol loaded or ran). */
void efm_mlperf_invalidate(efm_mlperf *m);

/* Formats v as C's printf("%.3f", (double)v) does (exact decimal value, round half to even); |v| must be below
 * 2^53. Returns the characters written (at most 24). */
uint32_t efm_mlperf_fmt_f3(char *dst, float v);

#ifdef __cplusplus
}
#endif

#endif /* EFM_MLPERF_H */
