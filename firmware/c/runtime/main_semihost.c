/* Test image: runs the model on the input records compiled into efm_test_vectors.c and prints, over semihosting,
 *   I <record> <counter ticks of efm_run>
 *   O <record> <output> <offset> <hex bytes>      (64 bytes per line)
 *   S <stack high-water bytes> <stack size>
 *   K <counter kind> <core clock Hz>
 *   A <arena bytes the model was generated with (efm_arena_bytes)>
 * then exits with code 0 through semihosting (QEMU: -semihosting-config enable=on,target=native). A banner goes
 * to the UART first, so the UART driver is exercised too. A streaming build (EFM_STREAMING) resets its state once
 * and runs the records as consecutive steps of one stream (each record a frame; I counts one step, state commit
 * included). */
#include <stdint.h>
#include <string.h>

#include "efm_board.h"
#include "efm_runtime.h"
#include "efm_test_vectors.h"
#include "model.h"

static char line[200];

static uint32_t put_str(uint32_t n, const char *s) {
    while (*s) {
        line[n++] = *s++;
    }
    return n;
}

static void emit(uint32_t n) {
    line[n++] = '\n';
    line[n] = 0;
    efm_semihost_write0(line);
}

int main(void) {
    static const char banner[] = "edgefmr semihost test " EFM_BOARD_NAME "\n";
    efm_uart_init();
    efm_uart_write(banner, sizeof(banner) - 1u);
    efm_counter_init();
#ifdef EFM_STREAMING
    efm_model_reset();
#endif
    const uint8_t *rec = efm_test_data;
    for (uint32_t r = 0; r < efm_test_count; r++) {
        for (int i = 0; i < EFM_NUM_INPUTS; i++) {
            memcpy(efm_input(i), rec, efm_input_bytes(i));
            rec += efm_input_bytes(i);
        }
        const uint64_t t0 = efm_counter_read();
        efm_run();
        const uint64_t t1 = efm_counter_read();
        uint32_t n = put_str(0, "I ");
        n += efm_fmt_u32(line + n, r);
        line[n++] = ' ';
        n += efm_fmt_u64(line + n, t1 - t0);
        emit(n);
        for (int o = 0; o < EFM_NUM_OUTPUTS; o++) {
            const uint8_t *y = (const uint8_t *)efm_output(o);
            const uint32_t size = efm_output_bytes(o);
            for (uint32_t off = 0; off < size; off += 64u) {
                n = put_str(0, "O ");
                n += efm_fmt_u32(line + n, r);
                line[n++] = ' ';
                n += efm_fmt_u32(line + n, (uint32_t)o);
                line[n++] = ' ';
                n += efm_fmt_u32(line + n, off);
                line[n++] = ' ';
                for (uint32_t k = off; k < size && k < off + 64u; k++) {
                    n += efm_fmt_hex8(line + n, y[k]);
                }
                emit(n);
            }
        }
    }
    uint32_t n = put_str(0, "S ");
    n += efm_fmt_u32(line + n, efm_stack_high_water());
    line[n++] = ' ';
    n += efm_fmt_u32(line + n, efm_stack_size());
    emit(n);
    n = put_str(0, "K ");
    n = put_str(n, efm_counter_kind);
    line[n++] = ' ';
    n += efm_fmt_u32(line + n, EFM_CORE_CLOCK_HZ);
    emit(n);
    n = put_str(0, "A ");
    n += efm_fmt_u32(line + n, efm_arena_bytes);
    emit(n);
    return 0;
}
