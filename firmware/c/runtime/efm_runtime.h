/* edgefmr bare-metal runtime: UART, semihosting, exit, stack high-water mark and the instruction/cycle counter.
 *
 * Board settings come from the generated efm_board.h (UART type and base address, clocks, whether the board is
 * virtual). Every main (semihosting test image, serial protocol firmware) uses only this API.
 */
#ifndef EFM_RUNTIME_H
#define EFM_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* UART of the board file's [serial] section (8N1, the board's baud rate). */
void efm_uart_init(void);
void efm_uart_putc(uint8_t c);
void efm_uart_write(const void *buf, uint32_t n);
/* Next received byte, or -1 when none is waiting. */
int efm_uart_getc_nonblock(void);
/* Blocks until a byte arrives. */
uint8_t efm_uart_getc(void);

/* Arm semihosting (needs a debugger or QEMU's -semihosting; a BKPT without one faults). */
void efm_semihost_write0(const char *s);
/* Ends the program with exit code `code` (SYS_EXIT_EXTENDED, so QEMU exits with it). */
void efm_semihost_exit(int code) __attribute__((noreturn));

/* Stops the program: semihosting exit in images built with EFM_SEMIHOSTING, otherwise a low-power loop. */
void efm_exit(int code) __attribute__((noreturn));

/* Stack: its size (the linker's .stack section) and the bytes ever used (painted words no longer intact). */
uint32_t efm_stack_size(void);
uint32_t efm_stack_high_water(void);
/* Paints the unused part of the stack again, so a later high-water reading covers what runs next. */
void efm_stack_repaint(void);

/* Free-running counter: DWT CYCCNT cycles on real boards; SysTick ticks of the core clock on QEMU boards, where
 * under -icount shift=0 one instruction is 1 ns of virtual time, so instructions = ticks * 1e9 / EFM_CORE_CLOCK_HZ
 * (deterministic; resolution 1e9 / EFM_CORE_CLOCK_HZ instructions). EFM_COUNTER_KIND says which one it is. */
void efm_counter_init(void);
uint64_t efm_counter_read(void);
extern const char efm_counter_kind[];

/* Clock tree set-up of real boards (PLL, flash wait states); a no-op on virtual boards. Called by the startup. */
void efm_clock_init(void);

/* Small formatting helpers for the mains (no printf in the firmware). Return the characters written. */
uint32_t efm_fmt_u32(char *dst, uint32_t v);
uint32_t efm_fmt_u64(char *dst, uint64_t v);
uint32_t efm_fmt_hex8(char *dst, uint8_t v);

#ifdef __cplusplus
}
#endif

#endif /* EFM_RUNTIME_H */
