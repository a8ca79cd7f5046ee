/* Clock tree and UART pins of real STM32F4 / STM32F7 boards (RM0090, RM0383, RM0390, RM0385): the PLL from the
 * 16 MHz HSI to the board's core clock (voltage scale 1, over-drive where needed, flash wait states, APB
 * prescalers), then the UART's peripheral clock and its TX/RX pins in their alternate function. The PLL and bus
 * settings are computed by edgefmr from the board file (efm_board.h). QEMU boards do not call this (no RCC model). */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#if !EFM_VIRTUAL_BOARD

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR REG(RCC_BASE + 0x44u)
#define PWR_CR REG(0x40007000u)
#define PWR_CSR REG(0x40007004u)
#define FLASH_ACR REG(0x40023C00u)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (uint32_t)(port))

static void efm_pin_af(uint32_t port, uint32_t pin, uint32_t af, int pull_up) {
    const uint32_t base = GPIO_BASE(port);
    RCC_AHB1ENR |= 1u << port;
    (void)RCC_AHB1ENR; /* the read delays the first GPIO access until its clock runs */
    REG(base + 0x00u) = (REG(base + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin));   /* MODER: AF */
    REG(base + 0x08u) = (REG(base + 0x08u) & ~(3u << (2u * pin))) | (2u << (2u * pin));   /* OSPEEDR: high */
    REG(base + 0x0Cu) = (REG(base + 0x0Cu) & ~(3u << (2u * pin))) | ((pull_up ? 1u : 0u) << (2u * pin));
    const uint32_t afr = base + (pin < 8u ? 0x20u : 0x24u);
    const uint32_t sh = 4u * (pin & 7u);
    REG(afr) = (REG(afr) & ~(0xFu << sh)) | (af << sh);
}

void efm_clock_init(void) {
    RCC_APB1ENR |= 1u << 28; /* PWR */
    (void)RCC_APB1ENR;
    PWR_CR |= 3u << 14; /* voltage scale 1 */
    RCC_CR |= 1u;       /* HSI on (the reset default) */
    while (!(RCC_CR & (1u << 1))) {
    }
    RCC_PLLCFGR = EFM_PLL_M | (EFM_PLL_N << 6) | (((EFM_PLL_P / 2u) - 1u) << 16) | (EFM_PLL_Q << 24);
    RCC_CR |= 1u << 24; /* PLL on */
    while (!(RCC_CR & (1u << 25))) {
    }
#if EFM_OVERDRIVE
    PWR_CR |= 1u << 16; /* over-drive enable */
    while (!(PWR_CSR & (1u << 16))) {
    }
    PWR_CR |= 1u << 17; /* over-drive switch */
    while (!(PWR_CSR & (1u << 17))) {
    }
#endif
    FLASH_ACR = EFM_FLASH_ACR;
    while ((FLASH_ACR & 0xFu) != (EFM_FLASH_ACR & 0xFu)) {
    }
    RCC_CFGR = (EFM_PPRE1 << 10) | (EFM_PPRE2 << 13);
    RCC_CFGR |= 2u; /* SYSCLK from the PLL */
    while ((RCC_CFGR & (3u << 2)) != (2u << 2)) {
    }
    /* The UART: peripheral clock and pins. */
#if EFM_UART_APB == 1
    RCC_APB1ENR |= 1u << EFM_UART_ENABLE_BIT;
    (void)RCC_APB1ENR;
#else
    RCC_APB2ENR |= 1u << EFM_UART_ENABLE_BIT;
    (void)RCC_APB2ENR;
#endif
    efm_pin_af(EFM_UART_TX_PORT, EFM_UART_TX_PIN, EFM_UART_AF, 0);
    efm_pin_af(EFM_UART_RX_PORT, EFM_UART_RX_PIN, EFM_UART_AF, 1);
}

#endif
