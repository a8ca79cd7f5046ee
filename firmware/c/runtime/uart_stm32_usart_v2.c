/* UART driver for the STM32F7/L4/H7 USART register layout ("stm32-usart-v2"): CR1, BRR, ISR, ICR, RDR, TDR, and the
 * LPUART ("stm32-lpuart", same registers, RM0432 §51.7; BRR = 256 x fck / baud, §51.4.7).
 * Peripheral clock and pins are set up by efm_clock_init (board clock file). */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#define USART_CR1 (*(volatile uint32_t *)(EFM_UART_BASE + 0x00u))
#define USART_BRR (*(volatile uint32_t *)(EFM_UART_BASE + 0x0Cu))
#define USART_ISR (*(volatile uint32_t *)(EFM_UART_BASE + 0x1Cu))
#define USART_ICR (*(volatile uint32_t *)(EFM_UART_BASE + 0x20u))
#define USART_RDR (*(volatile uint32_t *)(EFM_UART_BASE + 0x24u))
#define USART_TDR (*(volatile uint32_t *)(EFM_UART_BASE + 0x28u))
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

void efm_uart_init(void) {
    USART_CR1 = 0;
#if EFM_UART_TYPE_STM32_LPUART
    USART_BRR = (uint32_t)((256ull * EFM_UART_CLOCK_HZ + EFM_UART_BAUD / 2u) / EFM_UART_BAUD);
#else
    USART_BRR = (EFM_UART_CLOCK_HZ + EFM_UART_BAUD / 2u) / EFM_UART_BAUD; /* 16x oversampling */
#endif
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
}

void efm_uart_putc(uint8_t c) {
    while (!(USART_ISR & ISR_TXE)) {
    }
    USART_TDR = c;
}

void efm_uart_write(const void *buf, uint32_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    while (n--) {
        efm_uart_putc(*p++);
    }
    while (!(USART_ISR & ISR_TC)) {
    }
}

int efm_uart_getc_nonblock(void) {
    const uint32_t isr = USART_ISR;
    if (isr & ISR_ORE) {
        USART_ICR = ISR_ORE; /* an overrun stops reception until it is cleared */
    }
    if (isr & ISR_RXNE) {
        return (int)(USART_RDR & 0xFFu);
    }
    return -1;
}

uint8_t efm_uart_getc(void) {
    int c;
    while ((c = efm_uart_getc_nonblock()) < 0) {
    }
    return (uint8_t)c;
}
