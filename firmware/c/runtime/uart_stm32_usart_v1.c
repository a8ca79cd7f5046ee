/* UART driver for the STM32F1/F2/F4 USART register layout ("stm32-usart-v1"): SR, DR, BRR, CR1.
 *
 * Peripheral clock and pin set-up of real boards is done by efm_clock_init (board clock file); QEMU's model needs
 * only UE/TE/RE. QEMU drops bytes received before UE and RE are set, so hosts wait for the firmware's banner.
 */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#define USART_SR (*(volatile uint32_t *)(EFM_UART_BASE + 0x00u))
#define USART_DR (*(volatile uint32_t *)(EFM_UART_BASE + 0x04u))
#define USART_BRR (*(volatile uint32_t *)(EFM_UART_BASE + 0x08u))
#define USART_CR1 (*(volatile uint32_t *)(EFM_UART_BASE + 0x0Cu))
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void efm_uart_init(void) {
    USART_CR1 = 0;
    /* 16x oversampling: BRR = fck / baud, rounded (mantissa and fraction fields side by side). */
    USART_BRR = (EFM_UART_CLOCK_HZ + EFM_UART_BAUD / 2u) / EFM_UART_BAUD;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
}

void efm_uart_putc(uint8_t c) {
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = c;
}

void efm_uart_write(const void *buf, uint32_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    while (n--) {
        efm_uart_putc(*p++);
    }
    while (!(USART_SR & SR_TC)) {
    }
}

int efm_uart_getc_nonblock(void) {
    if (USART_SR & SR_RXNE) {
        return (int)(USART_DR & 0xFFu);
    }
    return -1;
}

uint8_t efm_uart_getc(void) {
    while (!(USART_SR & SR_RXNE)) {
    }
    return (uint8_t)(USART_DR & 0xFFu);
}
