"""Toolchain drivers: arm-none-eabi-gcc for boards, the host C compiler for `--board host`.

Everything board-specific that the C runtime needs comes from the board file: compiler flags (`cflags`),
the generated `efm_board.h` (clocks, UART type and base, FPU, virtual or real) and the generated linker script
(the board's memory map, code/data/stack regions, one arena section per arena region, the stack at the top of the
stack region).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from edgefmr.boards import Board
from edgefmr.errors import EdgefmrError

#: Folder of the C backend sources (runtime, kernels).
C_DIR = Path(__file__).resolve().parent / "c"
RUNTIME_DIR = C_DIR / "runtime"
KERNEL_DIR = C_DIR / "kernels"

#: Flags of every build: C99, warnings are errors, sections per function/object for --gc-sections.
COMMON_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
                 "-fno-common")
#: Target-only flags: per-function stack usage and the call graph, for the stack estimate (firmware/elfsize.py).
ARM_CFLAGS = ("-fstack-usage", "-fcallgraph-info=su", "-fno-builtin-printf")
ARM_LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--print-memory-usage")

#: UART driver source per board `serial.type`.
UART_DRIVERS = {"stm32-usart-v1": "uart_stm32_usart_v1.c", "stm32-usart-v2": "uart_stm32_usart_v2.c",
                "stm32-lpuart": "uart_stm32_usart_v2.c", "cmsdk-apb-uart": "uart_cmsdk_apb_uart.c"}

#: Clock-tree set-up source per device family of real boards (QEMU boards skip it: QEMU has no RCC model).
CLOCK_SOURCES = {"stm32f4": "clock_stm32f4f7.c", "stm32f7": "clock_stm32f4f7.c", "stm32l4+": "clock_stm32l4p.c",
                 "stm32h7": "clock_stm32h7.c"}
#: Device name prefixes of each clock family beyond F4/F7: STM32L4+ (RM0432: L4R/L4S/L4P/L4Q) and the single-core
#: STM32H742/H743/H750/H753 (RM0433; the dual-core H745/H747/H755/H757 have an SMPS and RM0399).
_CLOCK_PREFIXES = {"stm32l4+": ("STM32L4R", "STM32L4S", "STM32L4P", "STM32L4Q"),
                   "stm32h7": ("STM32H742", "STM32H743", "STM32H750", "STM32H753")}
#: Bus limits (APB1, APB2 max Hz) and over-drive threshold (Hz, None: no over-drive) per device line.
_F4F7_LINES = (
    ("STM32F401", 42_000_000, 84_000_000, None), ("STM32F405", 42_000_000, 84_000_000, None),
    ("STM32F407", 42_000_000, 84_000_000, None), ("STM32F415", 42_000_000, 84_000_000, None),
    ("STM32F417", 42_000_000, 84_000_000, None), ("STM32F41", 50_000_000, 100_000_000, None),
    ("STM32F42", 45_000_000, 90_000_000, 168_000_000), ("STM32F43", 45_000_000, 90_000_000, 168_000_000),
    ("STM32F446", 45_000_000, 90_000_000, 168_000_000), ("STM32F469", 45_000_000, 90_000_000, 168_000_000),
    ("STM32F479", 45_000_000, 90_000_000, 168_000_000), ("STM32F7", 54_000_000, 108_000_000, 180_000_000),
)
#: USART/UART peripheral -> (APB bus, enable bit in RCC_APBxENR) on STM32F4/F7.
_F4F7_UARTS = {"USART1": (2, 4), "USART6": (2, 5), "USART2": (1, 17), "USART3": (1, 18), "UART4": (1, 19),
               "UART5": (1, 20), "UART7": (1, 30), "UART8": (1, 31)}
_HSI_HZ = 16_000_000
#: STM32L4+ (RM0432 §6.4): USART/UART/LPUART -> (enable register offset in RCC, enable bit, RCC_CCIPR selector shift).
#: APB1ENR1 = 0x58, APB1ENR2 = 0x5C, APB2ENR = 0x60; selector value 00 = PCLK of the peripheral's bus.
_L4P_UARTS = {"USART1": (0x60, 14, 0), "USART2": (0x58, 17, 2), "USART3": (0x58, 18, 4), "UART4": (0x58, 19, 6),
              "UART5": (0x58, 20, 8), "LPUART1": (0x5C, 0, 10)}
_L4P_HSI16_HZ = 16_000_000
#: STM32H742/743/750/753 (RM0433 §8.7): USART/UART -> (enable register offset in RCC, enable bit, APB of its
#: rcc_pclk kernel clock). APB1LENR = 0xE8, APB2ENR = 0xF0; RCC_D2CCIP2R selects rcc_pclk1 / rcc_pclk2 (000).
_H7_UARTS = {"USART1": (0xF0, 4, 2), "USART6": (0xF0, 5, 2), "USART2": (0xE8, 17, 1), "USART3": (0xE8, 18, 1),
             "UART4": (0xE8, 19, 1), "UART5": (0xE8, 20, 1), "UART7": (0xE8, 30, 1), "UART8": (0xE8, 31, 1)}
_H7_HSI_HZ = 64_000_000
#: H7 flash read latency and WRHIGHFREQ per AXI (hclk) frequency in VOS0/VOS1, RM0433 §4.3.8 Table 17:
#: (max AXI Hz, wait states, WRHIGHFREQ).
_H7_FLASH = ((70_000_000, 0, 0), (140_000_000, 1, 1), (185_000_000, 2, 1), (210_000_000, 2, 2),
             (225_000_000, 3, 2), (240_000_000, 4, 2))

#: Default stack size of target builds (bytes); the build checks the stack estimate against it.
DEFAULT_STACK_BYTES = 8192


@dataclass(frozen=True)
class Toolchain:
    """The programs and flags of one build target (`board is None` for the host)."""

    board: Board | None
    cc: str
    objcopy: str | None
    size: str | None
    nm: str | None
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]

    @property
    def is_host(self) -> bool:
        return self.board is None


def find_tool(name: str, hint: str) -> str:
    """The path of program `name`; EdgefmrError with an install hint when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise EdgefmrError(f"{name} not found on PATH; {hint}")
    return path


_ARM_HINT = "install the Debian packages gcc-arm-none-eabi and libnewlib-arm-none-eabi (scripts/setup.sh does)"


def toolchain(board: Board | None) -> Toolchain:
    """The toolchain for `board` (an MCU board), or the host C compiler when `board` is None."""
    if board is None:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise EdgefmrError("no host C compiler (cc or gcc) on PATH; install build-essential")
        return Toolchain(None, cc, None, None, None, COMMON_CFLAGS, ())
    if board.kind != "mcu":
        raise EdgefmrError(f"board {board.name} is an FPGA board; the C firmware backend builds for MCU boards "
                           f"(or --board host)")
    return Toolchain(
        board=board,
        cc=find_tool("arm-none-eabi-gcc", _ARM_HINT),
        objcopy=find_tool("arm-none-eabi-objcopy", _ARM_HINT),
        size=find_tool("arm-none-eabi-size", _ARM_HINT),
        nm=find_tool("arm-none-eabi-nm", _ARM_HINT),
        cflags=(*board.cflags, *(f"-D{d}" for d in board.defines), *COMMON_CFLAGS, *ARM_CFLAGS),
        ldflags=ARM_LDFLAGS,
    )


def uart_driver(board: Board) -> str:
    """The runtime source file of the board's UART; EdgefmrError when edgefmr has no driver for its type."""
    assert board.serial is not None
    try:
        return UART_DRIVERS[board.serial.type]
    except KeyError:
        raise EdgefmrError(f"{board.path}: serial.type {board.serial.type!r} has no UART driver in edgefmr yet; "
                           f"drivers exist for: {', '.join(UART_DRIVERS)}") from None


def device_family(board: Board) -> str:
    """The clock family of the board's device: "stm32l4+" (STM32L4R/S/P/Q), "stm32h7" (STM32H742/743/750/753),
    otherwise the first 7 characters in lower case ("stm32f4", "stm32f7", "stm32l4", ...); "" when not an STM32."""
    d = board.device.upper()
    for fam, prefixes in _CLOCK_PREFIXES.items():
        if d.startswith(prefixes):
            return fam
    return d[:7].lower() if d.startswith("STM32") and not d.startswith("STM32H7") else ""


def _pow2_div(hz: int, limit: int) -> int:
    """The smallest power-of-two divider d (1..16) with hz / d <= limit."""
    d = 1
    while -(-hz // d) > limit:
        d *= 2
    assert d <= 16, (hz, limit)
    return d


def _uart_pins(board: Board) -> dict[str, int]:
    """GPIO port (0 = A), pin number and alternate function of the board's UART TX/RX pins."""
    assert board.serial is not None
    pins = []
    for key in ("tx_pin", "rx_pin"):
        pin = getattr(board.serial, key)
        if pin is None or board.serial.pin_af is None:
            raise EdgefmrError(f"{board.path}: serial.{key} and serial.pin_af are needed on a real board")
        pins += [ord(pin[1]) - ord("A"), int(pin[2:])]
    return {"EFM_UART_TX_PORT": pins[0], "EFM_UART_TX_PIN": pins[1], "EFM_UART_RX_PORT": pins[2],
            "EFM_UART_RX_PIN": pins[3], "EFM_UART_AF": board.serial.pin_af}


def _check_uart(board: Board, table: dict, bus_hz: int, where: str) -> None:
    """EdgefmrError unless the board's UART is in `table` and its kernel clock `bus_hz` is serial.clock_hz."""
    assert board.serial is not None
    if board.serial.uart not in table:
        raise EdgefmrError(f"{board.path}: serial.uart {board.serial.uart!r} is not a USART/UART edgefmr can clock; "
                           f"valid: {', '.join(table)}")
    if bus_hz != board.serial.clock_hz:
        raise EdgefmrError(f"{board.path}: serial.clock_hz = {board.serial.clock_hz}, but {board.serial.uart}'s "
                           f"kernel clock is {where} at {bus_hz} Hz with the core at {board.clock_hz} Hz")
    if board.serial.type == "stm32-lpuart":
        brr = 256 * board.serial.clock_hz // board.serial.baud  # RM0432 §51.4.7: 0x300 <= BRR < 2^20
        if not 0x300 <= brr < 1 << 20:
            raise EdgefmrError(f"{board.path}: serial.baud = {board.serial.baud} is out of LPUART range for a "
                               f"{board.serial.clock_hz} Hz kernel clock (BRR = 256 f / baud must be 768..1048575)")


def _l4p_clock(board: Board) -> dict[str, int]:
    """STM32L4+ (RM0432): PLL from the 16 MHz HSI16 (VCO input kept at 4..8 MHz, VCO 64..344 MHz, PLLN 8..127,
    PLLR 2/4/6/8, SYSCLK <= 120 MHz), range 1 boost above 80 MHz, 20 MHz per flash wait state, APB <= 120 MHz."""
    hz = board.clock_hz
    if not 0 < hz <= 120_000_000:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} is above the STM32L4+ maximum of 120 MHz")
    best = None
    for m in range(1, 17):
        ref, rem = divmod(_L4P_HSI16_HZ, m)
        if rem or not 4_000_000 <= ref <= 8_000_000:
            continue
        for r in (2, 4, 6, 8):
            n, rem = divmod(hz * r, ref)
            if not rem and 8 <= n <= 127 and 64_000_000 <= ref * n <= 344_000_000:
                best = best or (m, n, r)
    if best is None:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} cannot be made exactly from the 16 MHz HSI16 on "
                           f"STM32L4+ (16 MHz / M x N / R, VCO input 4..8 MHz, VCO 64..344 MHz, R in 2, 4, 6, 8)")
    m, n, r = best
    d1 = d2 = _pow2_div(hz, 120_000_000)
    ppre = {1: 0, 2: 4, 4: 5, 8: 6, 16: 7}
    assert board.serial is not None
    reg, bit, sel = _L4P_UARTS.get(board.serial.uart, (0x58, 0, 0))
    _check_uart(board, _L4P_UARTS, hz // (d2 if reg == 0x60 else d1), f"PCLK{2 if reg == 0x60 else 1}")
    pins = _uart_pins(board)
    port_g = 6  # port G is supplied by VDDIO2 (RM0432 §5.1.4): PWR_CR2.IOSV must be set before using its pins
    return {"EFM_PLL_M": m, "EFM_PLL_N": n, "EFM_PLL_R": r, "EFM_PPRE1": ppre[d1], "EFM_PPRE2": ppre[d2],
            "EFM_FLASH_LATENCY": -(-hz // 20_000_000) - 1, "EFM_BOOST": int(hz > 80_000_000),
            "EFM_UART_ENR": reg, "EFM_UART_ENABLE_BIT": bit, "EFM_UART_SEL_SHIFT": sel,
            "EFM_VDDIO2": int(port_g in (pins["EFM_UART_TX_PORT"], pins["EFM_UART_RX_PORT"])), **pins}


def _h7_clock(board: Board) -> dict[str, int]:
    """STM32H742/743/750/753 (RM0433, DS12110): LDO supply, VOS1 up to 400 MHz (AXI 200, APB 100 MHz), VOS0 up to
    480 MHz (AXI 240, APB 120 MHz; silicon revision V only), PLL1 from the 64 MHz HSI (reference 2..16 MHz, wide VCO
    192..836 MHz, up to 960 MHz in VOS0 on revision V; DIVN 4..512, DIVP even 2..128), flash latency from Table 17."""
    hz = board.clock_hz
    if not 0 < hz <= 480_000_000:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} is above the STM32H743 maximum of 480 MHz (revision V, "
                           f"VOS0; 400 MHz on revision Y)")
    vos0 = hz > 400_000_000
    limits = (240_000_000, 120_000_000, 960_000_000) if vos0 else (200_000_000, 100_000_000, 836_000_000)
    hclk_max, apb_max, vco_max = limits
    best = None
    for m in range(1, 64):
        ref, rem = divmod(_H7_HSI_HZ, m)
        if rem or not 2_000_000 <= ref <= 16_000_000:
            continue
        for p in range(2, 129, 2):
            n, rem = divmod(hz * p, ref)
            if not rem and 4 <= n <= 512 and 192_000_000 <= ref * n <= vco_max:
                best = best or (m, n, p, ref)
                break
    if best is None:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} cannot be made exactly from the 64 MHz HSI on STM32H7 "
                           f"(64 MHz / DIVM x DIVN / DIVP, reference 2..16 MHz, VCO 192..{vco_max // 10**6} MHz)")
    m, n, p, ref = best
    rge = 0 if ref < 2_000_000 else 1 if ref < 4_000_000 else 2 if ref < 8_000_000 else 3
    hpre_div = _pow2_div(hz, hclk_max)
    hclk = hz // hpre_div
    apb_div = _pow2_div(hclk, apb_max)
    latency, wrhf = next((ws, w) for top, ws, w in _H7_FLASH if hclk <= top)
    hpre = {1: 0, 2: 8, 4: 9, 8: 10, 16: 11}
    ppre = {1: 0, 2: 4, 4: 5, 8: 6, 16: 7}
    assert board.serial is not None
    reg, bit, apb = _H7_UARTS.get(board.serial.uart, (0xE8, 0, 1))
    _check_uart(board, _H7_UARTS, hclk // apb_div, f"rcc_pclk{apb}")
    return {"EFM_PLL_M": m, "EFM_PLL_N": n, "EFM_PLL_P": p, "EFM_PLL_RGE": rge, "EFM_VOS0": int(vos0),
            "EFM_HPRE": hpre[hpre_div], "EFM_PPRE": ppre[apb_div], "EFM_FLASH_ACR": latency | (wrhf << 4),
            "EFM_UART_ENR": reg, "EFM_UART_ENABLE_BIT": bit, **_uart_pins(board)}


def clock_config(board: Board) -> dict[str, int]:
    """PLL, voltage scaling, flash wait states, bus prescalers and UART wiring of a real STM32F4/F7/L4+/H7 board,
    from its board file. The PLL runs from the internal HSI (no assumption about the board's crystal or ST-LINK
    clock); on F4/F7 VCO input 2 MHz, SYSCLK = VCO / 2. EdgefmrError when the board's clock or UART kernel clock
    cannot be produced exactly or exceeds the device's limits."""
    fam = device_family(board)
    if board.is_virtual:
        return {}
    if fam not in CLOCK_SOURCES:
        raise EdgefmrError(f"{board.path}: device {board.device} has no clock-tree set-up in edgefmr (supported: "
                           f"STM32F4, STM32F7, STM32L4R/L4S/L4P/L4Q, STM32H742/H743/H750/H753); real boards must "
                           f"run at their board file's clock_hz")
    if fam == "stm32l4+":
        return _l4p_clock(board)
    if fam == "stm32h7":
        return _h7_clock(board)
    line = next((x for x in _F4F7_LINES if board.device.upper().startswith(x[0])), None)
    if line is None:
        raise EdgefmrError(f"{board.path}: device {board.device}: unknown STM32F4/F7 line for the bus limits")
    _, apb1_max, apb2_max, od_above = line
    hz = board.clock_hz
    m, p = 8, 2
    vco = hz * p
    n = vco // (_HSI_HZ // m)
    if vco % (_HSI_HZ // m) or not 50 <= n <= 432 or not 100_000_000 <= vco <= 432_000_000:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} cannot be made exactly from the 16 MHz HSI "
                           f"(PLL: 2 MHz x N / 2 with N in 50..432)")
    q = min(15, max(2, -(-vco // 48_000_000)))
    ppre = {1: 0, 2: 4, 4: 5, 8: 6, 16: 7}

    def div(limit: int) -> int:
        d = 1
        while hz // d > limit:
            d *= 2
        return d

    d1, d2 = div(apb1_max), div(apb2_max)
    assert board.serial is not None
    if board.serial.uart not in _F4F7_UARTS:
        raise EdgefmrError(f"{board.path}: serial.uart {board.serial.uart!r} is not a USART/UART edgefmr can clock; "
                           f"valid: {', '.join(_F4F7_UARTS)}")
    bus, bit = _F4F7_UARTS[board.serial.uart]
    bus_hz = hz // (d1 if bus == 1 else d2)
    if bus_hz != board.serial.clock_hz:
        raise EdgefmrError(f"{board.path}: serial.clock_hz = {board.serial.clock_hz}, but {board.serial.uart} sits on "
                           f"APB{bus} at {bus_hz} Hz with the core at {hz} Hz")
    latency = -(-hz // 30_000_000) - 1  # 2.7-3.6 V
    acr = latency | (0x300 if fam == "stm32f7" else 0x700)  # prefetch + ART (F7) / caches (F4)
    return {"EFM_PLL_M": m, "EFM_PLL_N": n, "EFM_PLL_P": p, "EFM_PLL_Q": q, "EFM_PPRE1": ppre[d1],
            "EFM_PPRE2": ppre[d2], "EFM_FLASH_ACR": acr, "EFM_OVERDRIVE": int(od_above is not None and hz > od_above),
            "EFM_UART_APB": bus, "EFM_UART_ENABLE_BIT": bit, **_uart_pins(board)}


def board_header(board: Board, semihosting: bool, mlperf_model: str | None = None) -> str:
    """The generated `efm_board.h`: the board facts the runtime C code is compiled with."""
    assert board.serial is not None
    core = board.core.replace("-", "_").upper() if board.core else "UNKNOWN"
    lines = [
        f"/* Generated by edgefmr from {board.path.name}; do not edit. */",
        "#ifndef EFM_BOARD_H",
        "#define EFM_BOARD_H",
        f'#define EFM_BOARD_NAME "{board.name}"',
        f"#define EFM_CORE_{core} 1",
        f"#define EFM_CORE_CLOCK_HZ {board.clock_hz}u",
        f"#define EFM_VIRTUAL_BOARD {1 if board.is_virtual else 0}",
        f"#define EFM_HAS_FPU {0 if (board.fpu or 'none') == 'none' else 1}",
        f"#define EFM_UART_TYPE_{board.serial.type.replace('-', '_').upper()} 1",
        f"#define EFM_UART_BASE 0x{board.serial.base:08X}u",
        f"#define EFM_UART_BAUD {board.serial.baud}u",
        f"#define EFM_UART_CLOCK_HZ {board.serial.clock_hz}u",
        f"#define EFM_SEMIHOSTING {1 if semihosting else 0}",
        *(f"#define {k} {v}u" for k, v in clock_config(board).items()),
        *([f'#define EFM_MLPERF_MODEL "{mlperf_model}"'] if mlperf_model else []),
        "#endif",
        "",
    ]
    return "\n".join(lines)


def arena_section(region: str) -> str:
    """The input section name of the arena placed in memory region `region`."""
    return f".bss.efm_arena.{region}"


def linker_script(board: Board, arena_regions: list[str], stack_bytes: int = DEFAULT_STACK_BYTES) -> str:
    """A GNU ld script for `board`: its memory map, code/rodata in defaults.code, .data/.bss in defaults.data, one
    NOLOAD arena section per region of `arena_regions`, and the stack at the top of defaults.stack."""
    assert board.defaults is not None
    code, data, stack = board.defaults.code, board.defaults.data, board.defaults.stack
    for name in {code, data, stack, *arena_regions}:
        board.region(name)  # EdgefmrError for a region the board does not have
    if stack_bytes % 8 or stack_bytes <= 0:
        raise EdgefmrError(f"stack size {stack_bytes} must be a positive multiple of 8 bytes")
    if stack_bytes > board.region(stack).size:
        raise EdgefmrError(f"stack of {stack_bytes} bytes does not fit region {stack} "
                           f"({board.region(stack).size} bytes) of board {board.name}")
    arenas = "".join(
        f"  .efm_arena_{r} (NOLOAD) :\n  {{\n    . = ALIGN(16);\n    KEEP(*({arena_section(r)}))\n"
        f"    . = ALIGN(16);\n  }} > {r}\n\n" for r in arena_regions)
    return f"""/* Generated by edgefmr from {board.path.name}; do not edit. */
{board.linker_memory()}
ENTRY(Reset_Handler)
__efm_stack_bytes = {stack_bytes};

SECTIONS
{{
  .isr_vector :
  {{
    . = ALIGN(4);
    KEEP(*(.isr_vector))
  }} > {code}

  .text :
  {{
    . = ALIGN(4);
    *(.text .text.*)
    *(.glue_7) *(.glue_7t) *(.vfp11_veneer) *(.v4_bx)
    KEEP(*(.init)) KEEP(*(.fini))
  }} > {code}

  .rodata :
  {{
    . = ALIGN(4);
    *(.rodata .rodata.*)
    . = ALIGN(4);
  }} > {code}

  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {code}
  .ARM.exidx :
  {{
    __exidx_start = .;
    *(.ARM.exidx* .gnu.linkonce.armexidx.*)
    __exidx_end = .;
  }} > {code}

  .data :
  {{
    . = ALIGN(4);
    _sdata = .;
    *(.data .data.*)
    . = ALIGN(4);
    _edata = .;
  }} > {data} AT> {code}
  _sidata = LOADADDR(.data);

{arenas}  .bss (NOLOAD) :
  {{
    . = ALIGN(4);
    _sbss = .;
    *(.bss .bss.*)
    *(COMMON)
    . = ALIGN(4);
    _ebss = .;
  }} > {data}
  end = _ebss;

  .stack ORIGIN({stack}) + LENGTH({stack}) - __efm_stack_bytes (NOLOAD) :
  {{
    _sstack = .;
    . = . + __efm_stack_bytes;
    _estack = .;
  }} > {stack}

  /DISCARD/ : {{ *(.note.GNU-stack) *(.gnu_debuglink) }}
}}
"""


def runtime_sources(board: Board | None, main: str) -> list[Path]:
    """The runtime C files of a build with main `main` ("host", "semihost" or "protocol")."""
    mains = {"host": "main_host.c", "semihost": "main_semihost.c", "protocol": "main_protocol.c"}
    if main not in mains:
        raise EdgefmrError(f"unknown firmware main {main!r}; valid: {', '.join(mains)}")
    if board is None:
        if main != "host":
            raise EdgefmrError(f"--board host builds the host main, not {main!r}")
        return [RUNTIME_DIR / "main_host.c"]
    if main == "host":
        raise EdgefmrError(f"the host main runs on the build machine; board {board.name} needs 'semihost' or "
                           f"'protocol'")
    files = ["startup.c", "semihost.c", "format.c", "counter.c", uart_driver(board), mains[main]]
    if not board.is_virtual:
        clock_config(board)  # EdgefmrError for a family without clock set-up
        files.append(CLOCK_SOURCES[device_family(board)])
    if main == "protocol":
        files += ["protocol.c", "protocol.h", "mlperf.c", "mlperf.h"]
    out = [RUNTIME_DIR / f for f in files]
    missing = [p for p in out if not p.is_file()]
    if missing:
        raise EdgefmrError(f"runtime source {missing[0].name} is missing from {RUNTIME_DIR}")
    return out


def runtime_headers(board: Board | None) -> list[Path]:
    """Runtime headers copied beside the sources."""
    return [] if board is None else [RUNTIME_DIR / "efm_runtime.h", RUNTIME_DIR / "protocol.h",
                                     RUNTIME_DIR / "mlperf.h"]
