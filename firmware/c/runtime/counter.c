/* The free-running counter behind per-inference and per-layer figures.
 *
 * Real boards: DWT CYCCNT (core cycles), extended to 64 bits by the caller reading at least every 2^32 cycles.
 * QEMU boards: QEMU does not model DWT; SysTick (core clock source) counts virtual time, which under
 * -icount shift=0 advances 1 ns per executed instruction. Wraps of the 24-bit SysTick are counted in its handler.
 */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#if EFM_VIRTUAL_BOARD

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

const char efm_counter_kind[] = "systick";
static volatile uint32_t efm_systick_wraps;

void SysTick_Handler(void) {
    efm_systick_wraps++;
}

void efm_counter_init(void) {
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    efm_systick_wraps = 0;
    SYST_CSR = 7u; /* enable, interrupt on wrap, core clock */
    /* The first reload happens one tick after enabling; until then the counter reads 0 (not "RELOAD ticks"). */
    while (SYST_CVR == 0u) {
    }
}

uint64_t efm_counter_read(void) {
    uint32_t before, after, wraps, cvr;
    do {
        before = efm_systick_wraps;
        cvr = SYST_CVR;
        wraps = before;
        if (SCB_ICSR & ICSR_PENDSTSET) {
            /* The counter wrapped and the handler has not run yet: the reload happened, read again. */
            cvr = SYST_CVR;
            wraps++;
        }
        after = efm_systick_wraps;
    } while (before != after);
    return ((uint64_t)wraps << 24) + (uint64_t)(SYST_RELOAD - cvr);
}

#else

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

const char efm_counter_kind[] = "dwt-cyccnt";
static uint32_t efm_dwt_last;
static uint32_t efm_dwt_high;

void efm_counter_init(void) {
    DEMCR |= (1u << 24); /* TRCENA */
#ifdef EFM_CORE_CORTEX_M7
    DWT_LAR = 0xC5ACCE55u; /* unlock on Cortex-M7 */
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    efm_dwt_last = 0;
    efm_dwt_high = 0;
}

uint64_t efm_counter_read(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < efm_dwt_last) {
        efm_dwt_high++;
    }
    efm_dwt_last = now;
    return ((uint64_t)efm_dwt_high << 32) | now;
}

#endif
