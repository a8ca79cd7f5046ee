/* UART driver for the Arm CMSDK APB UART ("cmsdk-apb-uart", MPS2 boards): DATA, STATE, CTRL, BAUDDIV. */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#define UART_DATA (*(volatile uint32_t *)(EFM_UART_BASE + 0x000u))
#define UART_STATE (*(volatile uint32_t *)(EFM_UART_BASE + 0x004u))
#define UART_CTRL (*(volatile uint32_t *)(EFM_UART_BASE + 0x008u))
#define UART_BAUDDIV (*(volatile uint32_t *)(EFM_UART_BASE + 0x010u))
#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

void efm_uart_init(void) {
    UART_CTRL = 0;
    /* The divider must be at least 16. */
    uint32_t div = EFM_UART_CLOCK_HZ / EFM_UART_BAUD;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
}

void efm_uart_putc(uint8_t c) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = c;
}

void efm_uart_write(const void *buf, uint32_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    while (n--) {
        efm_uart_putc(*p++);
    }
    while (UART_STATE & STATE_TX_FULL) {
    }
}

int efm_uart_getc_nonblock(void) {
    if (UART_STATE & STATE_RX_FULL) {
        return (int)(UART_DATA & 0xFFu);
    }
    return -1;
}

uint8_t efm_uart_getc(void) {
    while (!(UART_STATE & STATE_RX_FULL)) {
    }
    return (uint8_t)(UART_DATA & 0xFFu);
}
