/* Clock tree and UART pins of real STM32H742/H743/H750/H753 boards (RM0433, DS12110): LDO supply, voltage scaling
 * (VOS1, plus over-drive to VOS0 above 400 MHz), PLL1 from the 64 MHz HSI to the board's core clock, flash wait
 * states and WRHIGHFREQ, D1/D2/D3 bus prescalers, then the UART's kernel clock (rcc_pclk1/2), bus clock and TX/RX
 * pins. The PLL and bus settings are computed by edgefmr from the board file (efm_board.h: toolchain._h7_clock). */
#include <stdint.h>

#include "efm_board.h"
#include "efm_runtime.h"

#if !EFM_VIRTUAL_BOARD

#define REG(addr) (*(volatile uint32_t *)(addr))
/* RCC, RM0433 §8.7 (base 0x58024400). */
#define RCC_BASE 0x58024400u
#define RCC_CR REG(RCC_BASE + 0x000u)        /* HSION bit 0, HSIRDY bit 2, HSIDIV[4:3], HSIDIVF bit 5, PLL1ON/RDY 24/25 */
#define RCC_CFGR REG(RCC_BASE + 0x010u)      /* SW[2:0], SWS[5:3]: 011 = PLL1 */
#define RCC_D1CFGR REG(RCC_BASE + 0x018u)    /* HPRE[3:0], D1PPRE[6:4], D1CPRE[11:8] */
#define RCC_D2CFGR REG(RCC_BASE + 0x01Cu)    /* D2PPRE1[6:4], D2PPRE2[10:8] */
#define RCC_D3CFGR REG(RCC_BASE + 0x020u)    /* D3PPRE[6:4] */
#define RCC_PLLCKSELR REG(RCC_BASE + 0x028u) /* PLLSRC[1:0] (00 = HSI), DIVM1[9:4] */
#define RCC_PLLCFGR REG(RCC_BASE + 0x02Cu)   /* PLL1FRACEN 0, PLL1VCOSEL 1, PLL1RGE[3:2], DIVP1EN 16, DIVQ1EN 17, DIVR1EN 18 */
#define RCC_PLL1DIVR REG(RCC_BASE + 0x030u)  /* DIVN1[8:0] = N-1, DIVP1[15:9] = P-1 */
#define RCC_D2CCIP2R REG(RCC_BASE + 0x054u)  /* USART234578SEL[2:0], USART16SEL[5:3]: 000 = rcc_pclk1 / rcc_pclk2 */
#define RCC_AHB2ENR REG(RCC_BASE + 0x0DCu)   /* SRAM1EN 29, SRAM2EN 30, SRAM3EN 31 (D2 SRAMs) */
#define RCC_AHB4ENR REG(RCC_BASE + 0x0E0u)   /* GPIOxEN bit x */
#define RCC_APB4ENR REG(RCC_BASE + 0x0F4u)   /* SYSCFGEN bit 1 */
/* PWR, RM0433 §6.8 (base 0x58024800). */
#define PWR_CSR1 REG(0x58024804u) /* ACTVOSRDY bit 13 */
#define PWR_CR3 REG(0x5802480Cu)  /* BYPASS bit 0, LDOEN bit 1, SCUEN bit 2 */
#define PWR_D3CR REG(0x58024818u) /* VOSRDY bit 13, VOS[15:14]: 11 = VOS1 */
/* SYSCFG_PWRCR, RM0433 §12.3 (SYSCFG base 0x58000400 + 0x2C): ODEN bit 0, VOS0 = VOS1 + over-drive (§6.6.2). */
#define SYSCFG_PWRCR REG(0x5800042Cu)
/* FLASH_ACR, RM0433 §4.9.1 (base 0x52002000): LATENCY[3:0], WRHIGHFREQ[5:4] (Table 17, §4.3.8). */
#define FLASH_ACR REG(0x52002000u)
/* DBGMCU_IDC, RM0433 §60.5.8: REV_ID[31:16] = 0x1003 on revision Y (400 MHz max), 0x2003 on revision V. */
#define DBGMCU_IDC REG(0x5C001000u)
/* GPIO ports on AHB4, RM0433 §11.4 (base 0x58020000, 0x400 per port). */
#define GPIO_BASE(port) (0x58020000u + 0x400u * (uint32_t)(port))

static void efm_pin_af(uint32_t port, uint32_t pin, uint32_t af, int pull_up) {
    const uint32_t base = GPIO_BASE(port);
    RCC_AHB4ENR |= 1u << port;
    (void)RCC_AHB4ENR; /* the read delays the first GPIO access until its clock runs */
    REG(base + 0x00u) = (REG(base + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* MODER: AF */
    REG(base + 0x08u) = (REG(base + 0x08u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* OSPEEDR: high */
    REG(base + 0x0Cu) = (REG(base + 0x0Cu) & ~(3u << (2u * pin))) | ((pull_up ? 1u : 0u) << (2u * pin));
    const uint32_t afr = base + (pin < 8u ? 0x20u : 0x24u);
    const uint32_t sh = 4u * (pin & 7u);
    REG(afr) = (REG(afr) & ~(0xFu << sh)) | (af << sh);
}

void efm_clock_init(void) {
    /* Supply configuration (RM0433 §6.4.1): LDO on, SCUEN cleared (the configuration is written once). */
    PWR_CR3 = (PWR_CR3 & ~7u) | (1u << 1);
    while (!(PWR_CSR1 & (1u << 13))) {
    }
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (3u << 14); /* VOS1 */
    while (!(PWR_D3CR & (1u << 13))) {
    }
#if EFM_VOS0
    if ((DBGMCU_IDC >> 16) == 0x1003u) {
        /* Revision Y parts stop at 400 MHz: running this board file's clock would be out of specification. Set
         * clock_hz = 400 MHz (and the UART clock_hz that follows) in a copy of the board file for these parts. */
        for (;;) {
            __asm__ volatile("wfi");
        }
    }
    RCC_APB4ENR |= 1u << 1; /* SYSCFG */
    (void)RCC_APB4ENR;
    SYSCFG_PWRCR |= 1u; /* ODEN: VOS0 */
    while (!(PWR_D3CR & (1u << 13))) {
    }
#endif
    /* Wait states before the clock goes up. */
    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | EFM_FLASH_ACR;
    while ((FLASH_ACR & 0x3Fu) != EFM_FLASH_ACR) {
    }
    RCC_CR = (RCC_CR & ~(3u << 3)) | 1u; /* HSI on, HSIDIV = 1 (64 MHz) */
    while ((RCC_CR & ((1u << 2) | (1u << 5))) != ((1u << 2) | (1u << 5))) {
    }
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~((0x3Fu << 4) | 3u)) | (EFM_PLL_M << 4); /* PLLSRC = HSI */
    RCC_PLL1DIVR = (EFM_PLL_N - 1u) | ((EFM_PLL_P - 1u) << 9) | (1u << 16) | (1u << 24);
    /* Integer mode, wide VCO, input range, only the P output (Q and R stay off). */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(0xFu | (7u << 16))) | (EFM_PLL_RGE << 2) | (1u << 16);
    RCC_CR |= 1u << 24; /* PLL1 on */
    while (!(RCC_CR & (1u << 25))) {
    }
    /* Bus prescalers before the switch: sys_ck / 1 -> CPU, / HPRE -> AXI/AHB, / PPRE -> every APB. */
    RCC_D1CFGR = EFM_HPRE | (EFM_PPRE << 4);
    RCC_D2CFGR = (EFM_PPRE << 4) | (EFM_PPRE << 8);
    RCC_D3CFGR = EFM_PPRE << 4;
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u; /* sys_ck from PLL1 */
    while ((RCC_CFGR & (7u << 3)) != (3u << 3)) {
    }
    RCC_AHB2ENR |= 7u << 29; /* D2 SRAM1/2/3, for arenas placed there */
    /* The UART: kernel clock rcc_pclk1/2 (selector 000), bus clock and pins. */
    RCC_D2CCIP2R &= ~0x3Fu;
    REG(RCC_BASE + EFM_UART_ENR) |= 1u << EFM_UART_ENABLE_BIT;
    (void)REG(RCC_BASE + EFM_UART_ENR);
    efm_pin_af(EFM_UART_TX_PORT, EFM_UART_TX_PIN, EFM_UART_AF, 0);
    efm_pin_af(EFM_UART_RX_PORT, EFM_UART_RX_PIN, EFM_UART_AF, 1);
}

#endif
