/* Clock tree and UART pins of real STM32L4+ boards (STM32L4R/L4S/L4P/L4Q, RM0432): the PLL from the 16 MHz HSI16 to
 * the board's core clock in voltage range 1 (boost mode above 80 MHz), flash wait states, APB prescalers, then the
 * UART's kernel clock (PCLK), its TX/RX pins in their alternate function and, for port G, the VDDIO2 supply. The PLL
 * and bus settings are computed by edgefmr from the board file (efm_board.h: toolchain._l4p_clock). */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#if !EFM_VIRTUAL_BOARD

#define REG(addr) (*(volatile uint32_t *)(addr))
/* RCC, RM0432 §6.4 (base 0x40021000, memory map §2.2.2). */
#define RCC_BASE 0x40021000u
#define RCC_CR REG(RCC_BASE + 0x00u)      /* HSION bit 8, HSIRDY bit 10, PLLON bit 24, PLLRDY bit 25 */
#define RCC_CFGR REG(RCC_BASE + 0x08u)    /* SW[1:0], SWS[3:2], HPRE[7:4], PPRE1[10:8], PPRE2[13:11] */
#define RCC_PLLCFGR REG(RCC_BASE + 0x0Cu) /* PLLSRC[1:0], PLLM[7:4], PLLN[14:8], PLLREN bit 24, PLLR[26:25] */
#define RCC_AHB2ENR REG(RCC_BASE + 0x4Cu) /* GPIOxEN bit x */
#define RCC_APB1ENR1 REG(RCC_BASE + 0x58u) /* PWREN bit 28 */
#define RCC_CCIPR REG(RCC_BASE + 0x88u)   /* USARTxSEL / LPUART1SEL, 00 = PCLK */
/* PWR, RM0432 §5.4 (base 0x40007000). */
#define PWR_CR1 REG(0x40007000u) /* VOS[10:9]: 01 = range 1 */
#define PWR_CR2 REG(0x40007004u) /* IOSV bit 9: VDDIO2 valid */
#define PWR_SR2 REG(0x40007014u) /* VOSF bit 10 */
#define PWR_CR5 REG(0x40007080u) /* R1MODE bit 8: 0 = range 1 boost mode */
/* FLASH_ACR, RM0432 §3.7.1 (base 0x40022000): LATENCY[3:0], PRFTEN bit 8, ICEN bit 9, DCEN bit 10. */
#define FLASH_ACR REG(0x40022000u)
/* GPIO ports on AHB2, RM0432 §8.4 (base 0x48000000, 0x400 per port). */
#define GPIO_BASE(port) (0x48000000u + 0x400u * (uint32_t)(port))

static void efm_pin_af(uint32_t port, uint32_t pin, uint32_t af, int pull_up) {
    const uint32_t base = GPIO_BASE(port);
    RCC_AHB2ENR |= 1u << port;
    (void)RCC_AHB2ENR; /* the read delays the first GPIO access until its clock runs */
    REG(base + 0x00u) = (REG(base + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* MODER: AF */
    REG(base + 0x08u) = (REG(base + 0x08u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* OSPEEDR: high */
    REG(base + 0x0Cu) = (REG(base + 0x0Cu) & ~(3u << (2u * pin))) | ((pull_up ? 1u : 0u) << (2u * pin));
    const uint32_t afr = base + (pin < 8u ? 0x20u : 0x24u);
    const uint32_t sh = 4u * (pin & 7u);
    REG(afr) = (REG(afr) & ~(0xFu << sh)) | (af << sh);
}

void efm_clock_init(void) {
    RCC_APB1ENR1 |= 1u << 28; /* PWR clock */
    (void)RCC_APB1ENR1;
    PWR_CR1 = (PWR_CR1 & ~(3u << 9)) | (1u << 9); /* voltage range 1 (the reset value) */
    while (PWR_SR2 & (1u << 10)) {
    }
#if EFM_BOOST
    /* RM0432 §5.1.8: above 80 MHz, range 1 boost mode; the AHB runs at SYSCLK / 2 while switching up (below). */
    PWR_CR5 &= ~(1u << 8);
#endif
    RCC_CR |= 1u << 8; /* HSI16 on */
    while (!(RCC_CR & (1u << 10))) {
    }
    /* Wait states before the clock goes up (RM0432 §3.3.3, Table 12: 20 MHz per wait state in range 1). */
    FLASH_ACR = (FLASH_ACR & ~0xFu) | EFM_FLASH_LATENCY | (7u << 8); /* + prefetch, I-cache, D-cache */
    while ((FLASH_ACR & 0xFu) != EFM_FLASH_LATENCY) {
    }
    RCC_PLLCFGR = 2u /* HSI16 */ | ((EFM_PLL_M - 1u) << 4) | (EFM_PLL_N << 8) | (1u << 24) /* PLLREN */ |
                  (((EFM_PLL_R / 2u) - 1u) << 25);
    RCC_CR |= 1u << 24; /* PLL on */
    while (!(RCC_CR & (1u << 25))) {
    }
    RCC_CFGR = (EFM_BOOST ? (8u << 4) : 0u) | (EFM_PPRE1 << 8) | (EFM_PPRE2 << 11); /* HPRE /2 during a boost switch */
    RCC_CFGR |= 3u; /* SYSCLK from the PLL */
    while ((RCC_CFGR & (3u << 2)) != (3u << 2)) {
    }
#if EFM_BOOST
    for (volatile uint32_t i = 0; i < 64u; i++) { /* >= 1 us at SYSCLK/2 before AHB /1 (RM0432 §6.2.7) */
    }
    RCC_CFGR &= ~(0xFu << 4);
#endif
    /* The UART: kernel clock PCLK (selector 00), bus clock and pins. */
    RCC_CCIPR &= ~(3u << EFM_UART_SEL_SHIFT);
    REG(RCC_BASE + EFM_UART_ENR) |= 1u << EFM_UART_ENABLE_BIT;
    (void)REG(RCC_BASE + EFM_UART_ENR);
#if EFM_VDDIO2
    PWR_CR2 |= 1u << 9; /* IOSV: port G is powered from VDDIO2 (RM0432 §5.1.4) */
#endif
    efm_pin_af(EFM_UART_TX_PORT, EFM_UART_TX_PIN, EFM_UART_AF, 0);
    efm_pin_af(EFM_UART_RX_PORT, EFM_UART_RX_PIN, EFM_UART_AF, 1);
}

#endif
