/* Cortex-M startup: vector table, .data copy, .bss zeroing, FPU enable, stack painting, clock hook, main.
 *
 * Linker symbols (firmware/build.py writes the linker script from the board file):
 *   _sidata  load address of .data in the code region      _sdata/_edata  .data in the data region
 *   _sbss/_ebss  .bss                                        _sstack/_estack  the stack (top of the stack region)
 */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

#define EFM_STACK_PAINT 0xC5C5C5C5u
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void HardFault_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*efm_vector)(void);

/* The 16 system exception vectors; no peripheral interrupt is enabled by the runtime. */
__attribute__((section(".isr_vector"), used)) const efm_vector efm_vectors[16] = {
    (efm_vector)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

static inline uint32_t efm_get_sp(void) {
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Paints the stack from its bottom up to 64 bytes below the current stack pointer. */
static void efm_paint_below_sp(void) {
    uint32_t *p = &_sstack;
    uint32_t *limit = (uint32_t *)(efm_get_sp() - 64u);
    while (p < limit) {
        *p++ = EFM_STACK_PAINT;
    }
}

__attribute__((weak)) void efm_clock_init(void) {}

void Reset_Handler(void) {
#if EFM_HAS_FPU
    /* Full access to CP10/CP11 before any floating-point instruction. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    efm_paint_below_sp();
#if !EFM_VIRTUAL_BOARD
    efm_clock_init();
#endif
    efm_exit(main());
}

uint32_t efm_stack_size(void) {
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

uint32_t efm_stack_high_water(void) {
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == EFM_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

void efm_stack_repaint(void) {
    efm_paint_below_sp();
}

void Default_Handler(void) {
#if EFM_SEMIHOSTING
    efm_semihost_write0("efm: unexpected exception\n");
    efm_semihost_exit(126);
#else
    for (;;) {
        __asm__ volatile("wfi");
    }
#endif
}

void HardFault_Handler(void) {
#if EFM_SEMIHOSTING
    char msg[40] = "efm: fault, CFSR=0x";
    uint32_t n = 19;
    uint32_t cfsr = SCB_CFSR;
    for (int i = 3; i >= 0; i--) {
        n += efm_fmt_hex8(msg + n, (uint8_t)(cfsr >> (8 * i)));
    }
    msg[n++] = '\n';
    msg[n] = 0;
    efm_semihost_write0(msg);
    efm_semihost_exit(127);
#else
    for (;;) {
        __asm__ volatile("wfi");
    }
#endif
}

void efm_exit(int code) {
#if EFM_SEMIHOSTING
    efm_semihost_exit(code);
#else
    (void)code;
    for (;;) {
        __asm__ volatile("wfi");
    }
#endif
}
